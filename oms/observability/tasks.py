"""Celery tasks of operations, defined in ``oms.observability.heartbeat`` and imported here for
Celery's autodiscovery."""

from oms.observability.heartbeat import beat_heartbeat_task

__all__ = ["beat_heartbeat_task"]
