"""The README's run command: scripts/serve (its end) serves the web UI where it says, and
scripts/run on a fresh clone, without the Olist files beside it, serves a living system."""

import http.cookiejar
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from oms.testing import free_port
from packages.models import Status
from transfers.models import Status as TransferStatus

DEFAULT_PORT = 8000
URL_LINE = re.compile(r"OMS running at (http://[\d.]+:(\d+)/)")
LOGIN_LINE = re.compile(r"Admin login: (\S+) / (\S+)")
RUN_SETUP_SECONDS = 240  # migrate, generate and import the demo data, run the demo, start


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
            match = URL_LINE.search(line)
        assert int(match.group(2)) == DEFAULT_PORT
        deadline = time.monotonic() + 60
        while not _answers(match.group(1) + "accounts/login/"):
            assert process.poll() is None, "scripts/serve stopped"
            assert time.monotonic() < deadline, f"nothing answers at {match.group(1)}"
            time.sleep(0.5)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)



def _fresh_clone(root: Path, target: Path) -> None:
    """Copy the files git tracks in ``root`` to ``target`` (what a clone holds, with the
    work tree's changes) and link the project's virtualenv there."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
    for name in filter(None, listed.split(b"\0")):
        source = root / os.fsdecode(name)
        if source.is_file():  # a tracked file deleted in the work tree is not copied
            (target / os.fsdecode(name)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / os.fsdecode(name))
    (target / ".venv").symlink_to((root / ".venv").resolve(), target_is_directory=True)


def _pump(stream, lines: queue.Queue) -> None:
    """Put each line of ``stream`` on ``lines``, then None at its end."""
    for line in stream:
        lines.put(line)
    lines.put(None)


def _clean_environment(clone: Path) -> dict[str, str]:
    """This process's environment without the project's settings (every name in
    .env.example, the test settings module): a shell where nothing was exported."""
    names = {line.split("=", 1)[0] for line in (clone / ".env.example").read_text().splitlines()
             if re.match(r"^[A-Z][A-Z0-9_]*=", line)}
    return {key: value for key, value in os.environ.items()
            if key not in names and key != "DJANGO_SETTINGS_MODULE" and not key.startswith("PYTEST")}


def _log_in(opener, url: str, username: str, password: str) -> None:
    page = opener.open(url + "login/", timeout=30).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"username": username, "password": password,
                                   "csrfmiddlewaretoken": token}).encode()
    response = opener.open(url + "login/", data=form, timeout=30)
    assert "/login/" not in response.geturl(), "login refused"


@pytest.mark.slow
def test_run_command_on_a_fresh_clone_without_olist_files_serves_every_state(tmp_path):
    """Acceptance: a clone of the repository alone (no ../shared, no OLIST_DIR, no settings)
    runs scripts/run; the printed login opens a dashboard with packages in all 17 states
    and transfers in all 6."""
    clone = tmp_path / "oms"
    _fresh_clone(Path(settings.BASE_DIR), clone)
    assert not (tmp_path / "shared").exists()
    env = _clean_environment(clone)
    env["PORT"] = str(free_port())
    started = time.monotonic()
    process = subprocess.Popen([str(clone / "scripts" / "run")], cwd=clone, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
    printed: list[str] = []
    try:
        url = login = None
        while url is None:  # the login comes first; the URL line wherever it comes (pip may speak)
            remaining = RUN_SETUP_SECONDS - (time.monotonic() - started)
            assert remaining > 0, "no URL within the time limit:\n" + "".join(printed)
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            assert line is not None, "scripts/run stopped:\n" + "".join(printed)
            printed.append(line)
            login = login or LOGIN_LINE.search(line)
            if match := URL_LINE.search(line):
                url = match.group(1)
        assert login, "no admin login printed:\n" + "".join(printed)
        output = "".join(printed)
        assert "Generated demo data in the Olist format" in output and "States not reached" not in output
        served_at = time.monotonic()
        while not _answers(url + "login/"):
            assert process.poll() is None, "scripts/run stopped:\n" + "".join(printed)
            assert time.monotonic() - served_at < 60, f"nothing answers at {url}"
            time.sleep(0.5)

        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        _log_in(opener, url, login.group(1), login.group(2))
        dashboard = opener.open(url, timeout=30).read().decode()
        assert 'data-location="' in dashboard  # Package Location Movements, one card per location
        slider = opener.open(url + "packages/", timeout=30).read().decode()
        counts = {slug: int(n) for slug, n in re.findall(r'data-status="(\w+)" data-count="(\d+)"', slider)}
        assert {Status(code).slug for code in Status.values} <= set(counts)
        assert [slug for slug, n in counts.items() if n == 0] == []
        for slug in TransferStatus.values:
            page = opener.open(url + f"transfers/?status={slug}", timeout=30).read().decode()
            assert 'data-transfer="' in page, f"no transfer {slug}"
        with pytest.raises(urllib.error.HTTPError) as missing:  # the site's page, not Django's debug page
            opener.open(url + "no-such-page/", timeout=30)
        body = missing.value.read().decode()
        assert missing.value.code == 404 and "OMS back-office" in body and "URLconf" not in body
        assert opener.open(url + "healthz", timeout=30).status == 200
        print(f"[scripts/run] set up and serving in {served_at - started:.0f} s")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
