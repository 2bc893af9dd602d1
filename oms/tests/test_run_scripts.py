"""scripts/serve (the end of the README's run command) serves the web UI where it says."""

import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

DEFAULT_PORT = 8000


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2)
    except urllib.error.HTTPError:
        return True  # any HTTP answer means the server listens there
    except OSError:
        return False
    return True


def test_web_listens_on_the_printed_url_when_port_is_unset(tmp_path):
    """Regression: the URL printed said :8000 while honcho started the web process on its
    own default, 5000, because PORT was unset."""
    if not _port_is_free(DEFAULT_PORT):
        pytest.skip(f"port {DEFAULT_PORT} is taken on this machine")
    env = {key: value for key, value in os.environ.items() if key not in ("PORT", "DATABASE_URL")}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    root = Path(settings.BASE_DIR)
    process = subprocess.Popen([str(root / "scripts" / "serve")], cwd=root, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        printed, match = [], None
        while match is None:  # the URL line wherever it comes (pip or collectstatic may speak first)
            line = process.stdout.readline()
            assert line, "scripts/serve printed no URL:\n" + "".join(printed)
            printed.append(line)
            match = re.search(r"OMS running at (http://[\d.]+:(\d+)/)", line)
        assert int(match.group(2)) == DEFAULT_PORT
        deadline = time.monotonic() + 60
        while not _answers(match.group(1) + "accounts/login/"):
            assert process.poll() is None, "scripts/serve stopped"
            assert time.monotonic() < deadline, f"nothing answers at {match.group(1)}"
            time.sleep(0.5)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
