"""Every environment variable the settings read is listed in .env.example."""

import re
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)


def test_every_variable_the_settings_read_is_in_env_example():
    source = (ROOT / "oms" / "config" / "settings.py").read_text()
    read = set(re.findall(r"""[Ee]nv(?:\(\))?\.\w+\(\s*["']([A-Z][A-Z0-9_]*)["']""", source))
    read |= set(re.findall(r"""_throttle_rate\(\s*["']([A-Z][A-Z0-9_]*)["']""", source))
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M))
    assert {"OMS_VAR_DIR", "DJANGO_SECRET_KEY", "LOGIN_FAILURE_LIMIT", "API_THROTTLE_RATE"} <= read
    assert sorted(read - listed) == []
