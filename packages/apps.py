from django.apps import AppConfig


class PackagesConfig(AppConfig):
    default_auto_field = 'django.db.models.BigAutoField'
    name = 'packages'

    def ready(self) -> None:
        from oms.observability.metrics import metrics_collector_register
        from packages import hooks  # noqa: F401 - connects the receivers of transfer signals
        from packages.metrics import PackageCollector

        metrics_collector_register("packages", PackageCollector())
