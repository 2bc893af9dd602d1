import tempfile

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from demo.management.checks import require_migrated
from demo.sample_data import DEFAULT_ORDERS, DEFAULT_SEED, olist_sample_write
from packages.models import Package


class Command(BaseCommand):
    help = ("On an empty database: import DIR (your download of the Olist data) with its ship-by "
            "dates shifted to now, or without DIR a demo data set generated in the same format, "
            "then run the demo. Does nothing when packages exist.")

    def add_arguments(self, parser):
        parser.add_argument("directory", nargs="?",
                            help="folder holding the Olist CSV files (default: generate demo data)")
        parser.add_argument("--orders", type=int, default=DEFAULT_ORDERS,
                            help=f"orders to generate without DIR (default: {DEFAULT_ORDERS})")
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                            help=f"random seed of the generated data (default: {DEFAULT_SEED})")

    def handle(self, *args, directory, orders, seed, **options):
        if orders < 1:
            raise CommandError("--orders must be at least 1")
        require_migrated()
        if Package.objects.exists():
            self.stdout.write("Packages already present: import and demo skipped.")
            return
        if directory:
            call_command("import_olist", directory, "--shift-dates", stdout=self.stdout)
        else:
            with tempfile.TemporaryDirectory(prefix="oms-demo-data-") as generated:
                summary = olist_sample_write(generated, orders=orders, seed=seed)
                self.stdout.write(summary.line())
                call_command("import_olist", generated, stdout=self.stdout)
        call_command("demo", stdout=self.stdout)
