from django.apps import AppConfig


class OmsConfig(AppConfig):
    name = "oms"
    verbose_name = "OMS core (outbox)"

    def ready(self) -> None:
        # Connects the API token cache's signal receivers (cleared when a token or user changes).
        from oms.api import tokens  # noqa: F401
