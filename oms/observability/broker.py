"""Read the Celery broker (Redis, or the file-system broker in development) with a short timeout."""

from __future__ import annotations

from django.conf import settings
from kombu import Connection
from kombu.exceptions import ChannelError


def broker_queue_names() -> list[str]:
    """The Celery queues of the settings (``CELERY_TASK_QUEUES``): celery, stock, webhooks."""
    return [queue.name for queue in settings.CELERY_TASK_QUEUES]


def broker_queue_lengths(*, queues: list[str] | None = None) -> dict[str, int]:
    """Return ``{queue: messages waiting}`` for ``queues`` (default: every Celery queue).

    Opens its own connection to ``CELERY_BROKER_URL`` that gives up after
    ``BROKER_SOCKET_TIMEOUT_SECONDS`` (connect and each call) and does not retry: Redis
    ``LLEN`` of each queue's lists, or a count of the file-system broker's message files. A
    queue the broker has never seen (Redis drops an empty list) counts 0.
    Raises the transport's error (``kombu.exceptions.OperationalError``, ``OSError``,
    ``redis.exceptions.RedisError`` …) when the broker cannot be reached or read.
    """
    timeout = float(settings.BROKER_SOCKET_TIMEOUT_SECONDS)
    options = dict(getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {})
    options.update(socket_timeout=timeout, socket_connect_timeout=timeout, max_retries=0)
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=timeout,
                    transport_options=options) as connection:
        connection.ensure_connection(max_retries=0, timeout=timeout)
        channel = connection.default_channel
        lengths = {}
        for name in queues or broker_queue_names():
            try:
                lengths[name] = channel.queue_declare(queue=name, passive=True).message_count
            except ChannelError:  # no such queue: nothing was ever left in it
                lengths[name] = 0
        return lengths
