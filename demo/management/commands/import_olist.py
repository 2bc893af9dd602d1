"""``manage.py import_olist <dir> [--brand olist] [--shift-dates]``: run ``demo.olist_import``."""

from django.core.management.base import BaseCommand, CommandError

from demo.olist_import import OlistImportError, olist_import


class Command(BaseCommand):
    help = (
        "Import Olist sellers (stock locations), products (SKUs) and order items (packages) "
        "from a directory of CSV files (your download of the Olist data), all or nothing: "
        "skipped rows are reported and their orders refused (import the fixed files again to "
        "create them); the exit status is non-zero, and nothing is written, when the directory "
        "or a required file is missing or a file is empty or lacks a required column."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory", help="directory holding sellers.csv, products.csv, "
                                              "order_items.csv (and the category translation)")
        parser.add_argument("--brand", default="olist", help="brand slug of the packages (default: olist)")
        parser.add_argument("--shift-dates", action="store_true",
                            help="move every ship-by by whole weeks so the newest falls within the "
                                 "coming week (the sample's dates are from 2016-2018)")

    def handle(self, *args, directory: str, brand: str, shift_dates: bool, **options):
        try:
            report = olist_import(directory=directory, brand_slug=brand, shift_dates=shift_dates)
        except OlistImportError as exc:
            raise CommandError(str(exc)) from exc
        for line in report.lines():
            self.stdout.write(line)
