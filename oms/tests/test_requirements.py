"""The requirement files: the product's (requirements.txt) and the test tools'
(requirements-dev.txt) are fully pinned, each pulls in nothing it does not list, and no module
of the product imports a test tool."""

import ast
import re
from importlib import metadata
from pathlib import Path

from django.conf import settings
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(settings.BASE_DIR)
PRODUCT_PACKAGES = ["oms", "locations", "packages", "transfers", "demo"]
PIN = re.compile(r"^([A-Za-z0-9._-]+)(\[[a-z,]+\])?==[0-9][^\s;]*$")


def _pins(name: str) -> dict[str, set[str]]:
    """``{canonical package name: extras}`` of a requirements file (its ``-r`` line aside)."""
    pins = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-r "):
            continue
        match = PIN.match(line)
        assert match, f"{name}: not pinned to one version: {line!r}"
        extras = set(match.group(2)[1:-1].split(",")) if match.group(2) else set()
        pins[canonicalize_name(match.group(1))] = extras
    return pins


RUNTIME = _pins("requirements.txt")
DEV = _pins("requirements-dev.txt")


def _missing_dependencies(pins: dict[str, set[str]], listed: set[str]) -> list[str]:
    """What the installed distributions of ``pins`` require that ``listed`` lacks."""
    missing = []
    for name, extras in pins.items():
        for text in metadata.distribution(name).requires or []:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is not None and not any(marker.evaluate({"extra": extra})
                                              for extra in extras | {""}):
                continue
            if canonicalize_name(requirement.name) not in listed:
                missing.append(f"{name} needs {requirement.name}")
    return missing


def test_each_package_is_pinned_once_and_dev_includes_the_product():
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text().splitlines()
    assert not set(RUNTIME) & set(DEV), "listed in both files"


def test_the_product_requirements_pull_in_nothing_unlisted():
    assert _missing_dependencies(RUNTIME, set(RUNTIME)) == []


def test_the_redis_broker_and_cache_come_with_the_product():
    # Regression: kombu's Redis transport imports ``packaging``, which only its ``redis`` extra
    # pulls in: worker and beat died at start-up with REDIS_URL set on a runtime-only install.
    assert "redis" in RUNTIME["celery"] and "redis" in RUNTIME["kombu"]
    assert "packaging" in RUNTIME


def test_the_dev_requirements_pull_in_nothing_unlisted():
    assert _missing_dependencies(DEV, set(RUNTIME) | set(DEV)) == []


def _product_modules():
    for package in PRODUCT_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).parts
            if "tests" not in parts and path.name != "conftest.py":
                yield path


def _dev_only_modules() -> set[str]:
    """Top-level import names provided by a requirements-dev.txt package only."""
    return {module for module, distributions in metadata.packages_distributions().items()
            if {canonicalize_name(d) for d in distributions} <= set(DEV)
            and any(canonicalize_name(d) in DEV for d in distributions)}


def _imports_of(source: str, modules: set[str]) -> list[str]:
    """The imported names in ``source`` whose top-level package is one of ``modules``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [name for name in names if name.split(".")[0] in modules]
    return found


def test_no_product_module_imports_a_test_tool():
    dev_only = _dev_only_modules()
    assert {"pytest", "factory", "playwright", "schemathesis"} <= dev_only
    assert not {"django", "rest_framework", "celery", "axes"} & dev_only
    offenders = [f"{path.relative_to(ROOT)}: {name}" for path in _product_modules()
                 for name in _imports_of(path.read_text(), dev_only)]
    assert offenders == []


def test_the_import_check_finds_every_form_of_import():
    source = ("import os, pytest\nfrom factory.django import DjangoModelFactory\n"
              "def f():\n    import playwright.sync_api\nfrom . import factory\n")
    assert _imports_of(source, {"pytest", "factory", "playwright"}) == [
        "pytest", "factory.django", "playwright.sync_api"]
