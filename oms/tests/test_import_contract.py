"""The import contracts of ``.importlinter`` hold: each contract is run with ``lint-imports``
and a broken one fails with its report (the offending imports, file and line)."""

import configparser
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

CONFIG = Path(settings.BASE_DIR) / ".importlinter"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PREFIX = "importlinter:contract:"

# Contracts broken today by modules that are being rewritten elsewhere: strict, so the test
# fails once they hold and the mark must go.
BROKEN_TODAY: dict[str, str] = {}  # contract id -> what still breaks it (xfail, strict)


def _contract_ids() -> list[str]:
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    return [section.removeprefix(PREFIX) for section in parser.sections() if section.startswith(PREFIX)]


@pytest.mark.parametrize("contract", [
    pytest.param(contract, marks=pytest.mark.xfail(strict=True, reason=BROKEN_TODAY[contract]))
    if contract in BROKEN_TODAY else contract
    for contract in _contract_ids()
])
def test_import_contract_holds(contract):
    result = subprocess.run(
        # run by this interpreter: the script's shebang names the virtualenv it was installed from
        [sys.executable, str(LINT_IMPORTS), "--no-cache", "--no-logo", "--contract", contract, str(CONFIG)],
        cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"contract {contract!r} broken:\n{result.stdout}{result.stderr}"


def test_every_known_break_names_a_contract():
    assert set(BROKEN_TODAY) <= set(_contract_ids())
