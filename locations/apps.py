from django.apps import AppConfig


class LocationsConfig(AppConfig):
    default_auto_field = 'django.db.models.BigAutoField'
    name = 'locations'

    def ready(self) -> None:
        from locations.services import STOCK_LOCATION_EVENT_TYPES
        from oms.events.types import event_types_register

        event_types_register(STOCK_LOCATION_EVENT_TYPES)
