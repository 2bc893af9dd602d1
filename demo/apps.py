from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The Olist sample import and the demo run: sample data for the domain apps (no models)."""

    name = "demo"
    label = "demo"
    verbose_name = "Demo data (Olist import)"
