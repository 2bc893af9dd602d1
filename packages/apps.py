from django.apps import AppConfig


class PackagesConfig(AppConfig):
    default_auto_field = 'django.db.models.BigAutoField'
    name = 'packages'

    def ready(self) -> None:
        from oms.events.types import event_types_register
        from oms.observability.metrics import metrics_collector_register
        from packages import hooks  # noqa: F401 - connects the receivers of transfer signals
        from packages.events import package_event_types
        from packages.metrics import PackageCollector

        event_types_register(package_event_types())
        metrics_collector_register("packages", PackageCollector())
