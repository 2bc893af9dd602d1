"""The ``oms`` app's models module: imports the sub-packages' models (events, API, webhooks, run
records, operator preferences) so that Django registers them in app ``oms``.
"""

# The sub-packages' models, imported here so that Django registers them in app ``oms``.
from oms.api.models import ApiToken, IdempotencyItem, IdempotencyRecord  # noqa: F401
from oms.events.models import OutboxEvent  # noqa: F401
from oms.observability.models import JobRun  # noqa: F401
from oms.preferences.models import OperatorPreference  # noqa: F401
from oms.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription  # noqa: F401
