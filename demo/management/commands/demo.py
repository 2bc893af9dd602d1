from django.core.management.base import BaseCommand, CommandError

from demo.management.checks import require_migrated
from demo.scenario import DEMO_BRAND, DemoNotReady, demo_run


class Command(BaseCommand):
    help = ("Drive the imported packages through every state with the real services (runs once). "
            "Needs imported packages: scripts/manage load_demo, or import_olist DIR, first.")

    def add_arguments(self, parser):
        parser.add_argument("--brand", default=DEMO_BRAND,
                            help=f"brand slug of the packages to drive (default: {DEMO_BRAND})")

    def handle(self, *args, brand: str, **options):
        require_migrated()
        try:
            report = demo_run(brand_slug=brand)
        except DemoNotReady as exc:
            raise CommandError(str(exc)) from None
        for line in report.lines():
            self.stdout.write(line)
