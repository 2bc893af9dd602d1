"""The Celery application. Broker and schedule come from Django settings (``CELERY_*``)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oms.settings")

app = Celery("oms")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Every entry must name a registered task; oms/tests/test_celery.py checks it.
app.conf.beat_schedule = {
    "package-recheck-due": {
        "task": "packages.tasks.package_recheck_due_task",
        "schedule": 60.0,
    },
    "outbox-redispatch": {
        "task": "oms.tasks.outbox_redispatch_task",
        "schedule": 60.0,
    },
}
