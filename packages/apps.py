from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


def _ensure_open_package_counter(sender, *, using: str, **kwargs) -> None:
    from packages.capacity import ensure_triggers

    ensure_triggers(connections[using])


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

        post_migrate.connect(_ensure_open_package_counter, sender=self,
                             dispatch_uid="packages.open_package_counter")
