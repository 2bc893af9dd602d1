"""Celery tasks of webhook delivery. They are defined in ``oms.webhooks.delivery`` (its services
queue them), named ``oms.tasks.*`` and imported here for Celery's autodiscovery."""

from oms.webhooks.delivery import webhook_deliver_task, webhook_retry_due_task

__all__ = ["webhook_deliver_task", "webhook_retry_due_task"]
