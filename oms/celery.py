"""The Celery application. Broker and schedule come from Django settings (``CELERY_*``)."""

import os

from celery import Celery
from celery.signals import worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oms.settings")

app = Celery("oms")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The beat schedule lives in settings (CELERY_BEAT_SCHEDULE); packages/tests/test_rescheduling.py
# checks that every entry names a registered task.


@worker_process_shutdown.connect
def _flush_outbox_relay(**_kwargs) -> None:
    """A worker process leaving sends the outbox hand-offs its relay still holds."""
    from oms.events import flush_relay

    flush_relay()
