"""The Celery application. Broker and schedule come from Django settings (``CELERY_*``)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oms.config.settings")

app = Celery("oms")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Task modules of the oms sub-packages (the line above finds each installed app's ``tasks``).
app.autodiscover_tasks(["oms.api", "oms.webhooks", "oms.observability"])

# The beat schedule lives in settings (CELERY_BEAT_SCHEDULE); packages/tests/test_rescheduling.py
# checks that every entry names a registered task.

