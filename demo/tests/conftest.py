"""Olist files for the demo tests: ``$OLIST_DIR`` when set, else a generated set."""

from pathlib import Path

import pytest

from demo.sample_data import olist_sample_write
from oms.testing import olist_dir


@pytest.fixture(scope="session")
def olist_files(tmp_path_factory) -> Path:
    """The Olist CSV files of ``$OLIST_DIR``, else a set generated in the sample's shape
    (``demo.sample_data``, default size and seed, ship-by around now)."""
    given = olist_dir()
    if given is not None:
        return given
    directory = tmp_path_factory.mktemp("olist")
    olist_sample_write(directory)
    return directory
