"""Test settings: the base settings with fast hashing and eager Celery.

``DATABASE_URL`` still decides the database, so ``.ci/run`` runs the suite on PostgreSQL.
"""

import os

# The base settings refuse to start without DEBUG unless these are set (fail closed).
os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-" + "x" * 50)
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,localhost,127.0.0.1,[::1]")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("DJANGO_SECURE_COOKIES", "false")

from oms.config.settings import *  # noqa: E402,F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = "memory://"
CELERY_RESULT_BACKEND = None
LOGGING = {"version": 1, "disable_existing_loggers": False}
# Close connections after each request/task: threaded and live-server tests would
# otherwise keep one open per thread until PostgreSQL runs out of slots.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
WHITENOISE_USE_FINDERS = True  # live-server tests serve app static files without collectstatic
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
# Rate-limit counters in this process's memory (emptied before each test: conftest.py).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
