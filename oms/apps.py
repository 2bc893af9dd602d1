from django.apps import AppConfig


class OmsConfig(AppConfig):
    name = "oms"
    verbose_name = "OMS core (outbox)"

    def ready(self) -> None:
        # The API token cache's signal receivers (cleared when a token or user changes) and
        # beat's heartbeat receiver connect on import; /metrics serves the outbox, webhook
        # and queue series.
        from oms.api import tokens  # noqa: F401
        from oms.observability import heartbeat  # noqa: F401
        from oms.observability.metrics import OmsCollector, metrics_collector_register

        metrics_collector_register("oms", OmsCollector())
