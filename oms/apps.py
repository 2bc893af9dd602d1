from django.apps import AppConfig


class OmsConfig(AppConfig):
    name = "oms"
    verbose_name = "OMS core (outbox)"

    def ready(self) -> None:
        # Beat's heartbeat receiver connects on import; /metrics serves the outbox, webhook
        # and queue series.
        from oms.observability import heartbeat  # noqa: F401
        from oms.observability.metrics import OmsCollector, metrics_collector_register

        # Copies the operator's preferences into the session at login.
        from oms.preferences import session  # noqa: F401

        metrics_collector_register("oms", OmsCollector())
