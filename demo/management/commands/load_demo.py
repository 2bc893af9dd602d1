from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand

from packages.models import Package


class Command(BaseCommand):
    help = ("On an empty database: import the Olist sample from DIR and run the demo. "
            "Does nothing when packages exist.")

    def add_arguments(self, parser):
        parser.add_argument("directory", help="folder holding the Olist CSV files")

    def handle(self, *args, directory, **options):
        if Package.objects.exists():
            self.stdout.write("Packages already present: import and demo skipped.")
            return
        if not Path(directory).is_dir():
            self.stdout.write(f"No Olist data at {directory} (set OLIST_DIR); starting empty.")
            return
        call_command("import_olist", directory, stdout=self.stdout)
        call_command("demo", stdout=self.stdout)
