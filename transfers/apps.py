from django.apps import AppConfig


class TransfersConfig(AppConfig):
    default_auto_field = 'django.db.models.BigAutoField'
    name = 'transfers'

    def ready(self) -> None:
        from oms.events.types import event_types_register
        from transfers.events import transfer_event_types

        event_types_register(transfer_event_types())
