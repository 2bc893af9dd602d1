"""Production settings fail closed: no DEBUG unless asked for, no start without a secret key
and host names, and ``check --deploy`` clean with the README's production environment."""

import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings
from django.test import RequestFactory
from django.views.defaults import server_error

ROOT = settings.BASE_DIR
PRODUCTION_ENV = {  # the README's production section
    "DATABASE_URL": "postgres://oms@db:5432/oms", "REDIS_URL": "redis://redis:6379/0",
    "DJANGO_DEBUG": "false", "DJANGO_ALLOWED_HOSTS": "oms.example.com",
}


def _env(**values) -> dict:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("DJANGO_", "DATABASE_", "REDIS_", "CELERY_"))}
    env["DJANGO_SETTINGS_MODULE"] = "oms.config.settings"
    env["OMS_VAR_DIR"] = values.pop("var_dir")
    return {**env, **values}


def test_without_debug_secret_and_hosts_the_wsgi_app_refuses_to_start(tmp_path):
    result = subprocess.run([sys.executable, "-c", "import oms.config.wsgi"], cwd=ROOT, capture_output=True,
                            text=True, env=_env(var_dir=str(tmp_path)), timeout=60)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY and DJANGO_ALLOWED_HOSTS must be set" in result.stderr


def test_gunicorn_refuses_to_start_without_debug_secret_and_hosts(tmp_path):
    gunicorn = [sys.executable, "-m", "gunicorn", "oms.config.wsgi", "--bind", "127.0.0.1:0",
                "--workers", "1", "--timeout", "20"]
    result = subprocess.run(gunicorn, cwd=ROOT, capture_output=True, text=True,
                            env=_env(var_dir=str(tmp_path)), timeout=60)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY and DJANGO_ALLOWED_HOSTS must be set" in result.stderr


def test_debug_is_off_unless_asked_for(tmp_path):
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    env = _env(var_dir=str(tmp_path), DJANGO_SECRET_KEY="k" * 50, DJANGO_ALLOWED_HOSTS="example.com")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.stdout.strip() == "False", result.stderr


def test_check_deploy_passes_with_the_readme_production_environment(tmp_path):
    env = _env(var_dir=str(tmp_path), DJANGO_SECRET_KEY=secrets.token_urlsafe(50), **PRODUCTION_ENV)
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_an_unknown_url_gives_the_sites_404_page(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"Not found" in response.content and b"OMS back-office" in response.content
    assert b"URLconf" not in response.content


def test_the_500_page_is_the_sites():
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    assert b"Something went wrong" in response.content and b"OMS back-office" in response.content
