"""The demo data without the Olist files (``demo.sample_data``), the ``--shift-dates`` import
of old files, and the ``demo`` / ``load_demo`` commands on a database without data."""

import csv
import datetime as dt
import os
import subprocess
import sys
from collections import Counter
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Max, Min
from django.utils import timezone

from demo.olist_import import FILE_COLUMNS, SOURCE_TIME_ZONE, _match_columns, olist_import
from demo.sample_data import SELLER_STATES, SHIP_BY_PAST_SHARE, SHIP_BY_WINDOW_DAYS, olist_sample_write
from packages.models import Brand, Package, Status
from packages.selectors import BEFORE_HANDOVER_STATES
from transfers.models import Status as TransferStatus
from transfers.models import Transfer

NOW = dt.datetime(2026, 3, 4, 15, 0, tzinfo=dt.UTC)
ITEMS_HEADER = ('"order_id","order_item_id","product_id","seller_id","shipping_limit_date",'
                '"price","freight_value"\n')


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.reader(file))


def test_sample_depends_on_the_seed_and_only_its_ship_by_dates_on_now(tmp_path):
    first = olist_sample_write(tmp_path / "a", orders=200, seed=7, now=NOW)
    olist_sample_write(tmp_path / "b", orders=200, seed=7, now=NOW)
    olist_sample_write(tmp_path / "c", orders=200, seed=8, now=NOW)

    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["order_items.csv", "product_category_name_translation.csv", "products.csv",
                     "sellers.csv"]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    items = "order_items.csv"
    assert (tmp_path / "a" / items).read_bytes() != (tmp_path / "c" / items).read_bytes()
    assert first.orders == 200 and first.item_rows == len(_rows(tmp_path / "a" / items)) - 1

    later = olist_sample_write(tmp_path / "d", orders=200, seed=7, now=NOW + dt.timedelta(days=30))
    assert later.first_ship_by - first.first_ship_by > dt.timedelta(days=19)
    for name in ("sellers.csv", "products.csv"):  # only the ship-by dates follow now
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "d" / name).read_bytes()
    assert ([row[:4] + row[5:] for row in _rows(tmp_path / "a" / items)]
            == [row[:4] + row[5:] for row in _rows(tmp_path / "d" / items)])


def test_sample_has_the_importers_columns_and_the_olist_shape(tmp_path):
    summary = olist_sample_write(tmp_path, orders=3000, seed=1, now=NOW)

    files = {name: _rows(tmp_path / name) for name in FILE_COLUMNS}
    for name, (spec, required) in FILE_COLUMNS.items():  # every header the importer needs
        _match_columns(files[name][0], spec, file=name, required=required)
    items = files["order_items.csv"][1:]
    sellers = {row[0]: row for row in files["sellers.csv"][1:]}
    products = {row[0]: row for row in files["products.csv"][1:]}
    assert {row[2] for row in items} == set(products)  # every product listed is sold
    assert {row[3] for row in items} <= set(sellers)
    assert {row[3] for row in sellers.values()} <= set(SELLER_STATES)
    packages = Counter((row[0], row[3]) for row in items)
    assert len(packages) == summary.packages
    assert 0.85 < sum(1 for n in packages.values() if n == 1) / len(packages) < 0.97  # sample: 91 %
    assert 0.2 < len({seller for _, seller in packages}) / len(sellers) < 0.45  # sample: 33 %
    states = Counter(sellers[seller][3] for _, seller in packages)
    assert states.most_common(1)[0][0] == "SP"
    prices = sorted(float(row[5]) for row in items)
    assert 50 < prices[len(prices) // 2] < 110  # sample median: 78.00 BRL
    ship_bys = [dt.datetime.fromisoformat(row[4]).replace(tzinfo=SOURCE_TIME_ZONE) for row in items]
    assert all(abs(moment - NOW) <= dt.timedelta(days=SHIP_BY_WINDOW_DAYS) for moment in ship_bys)
    orders = {row[0]: moment for row, moment in zip(items, ship_bys, strict=True)}
    past = sum(1 for moment in orders.values() if moment < NOW) / len(orders)
    assert abs(past - SHIP_BY_PAST_SHARE) < 0.03
    weekdays = Counter(moment.weekday() for moment in orders.values())
    assert weekdays[3] > weekdays[5] * 10  # Thursday busy, Saturday nearly empty


@pytest.mark.django_db
def test_import_with_shift_dates_moves_old_ship_by_dates_to_the_coming_week(tmp_path):
    (tmp_path / "sellers.csv").write_text("seller_id,seller_zip_code_prefix,seler_city,seller_state\n"
                                          "s1,13023,Campinas,SP\n")
    (tmp_path / "products.csv").write_text("product_id,Category Name,product_weight_g,product_length_cm,"
                                           "product_height_cm,product_width_cm\np1,toys,154,18,9,15\n")
    (tmp_path / "order_items.csv").write_text(ITEMS_HEADER + (
        "o1,1,p1,s1,2017-09-19 09:45:35,58.90,13.29\n"
        "o2,1,p1,s1,2018-08-29 10:00:00,58.90,13.29\n"))

    report = olist_import(directory=tmp_path, shift_dates=True, now=NOW)

    old = Package.objects.get(number="o1-1").ship_by
    newest = Package.objects.get(number="o2-1").ship_by
    assert NOW <= newest < NOW + dt.timedelta(days=7)
    assert report.ship_by_shift.days % 7 == 0 and report.ship_by_shift.seconds == 0
    assert newest - old == dt.datetime(2018, 8, 29, 10) - dt.datetime(2017, 9, 19, 9, 45, 35)
    assert newest.astimezone(SOURCE_TIME_ZONE).strftime("%a %H:%M") == "Wed 10:00"  # as in the file
    assert any(f"shifted by +{report.ship_by_shift.days:,} days" in line for line in report.lines())

    unshifted = olist_import(directory=tmp_path)  # already there: nothing moves again
    assert unshifted.ship_by_shift is None and unshifted.packages_present == 2
    assert Package.objects.get(number="o2-1").ship_by == newest


@pytest.mark.django_db
def test_load_demo_with_a_directory_imports_it_with_dates_shifted(tmp_path):
    (tmp_path / "sellers.csv").write_text("seller_id,seller_zip_code_prefix,seler_city,seller_state\n"
                                          "s1,13023,Campinas,SP\n")
    (tmp_path / "products.csv").write_text("product_id,Category Name,product_weight_g,product_length_cm,"
                                           "product_height_cm,product_width_cm\np1,toys,154,18,9,15\n")
    (tmp_path / "order_items.csv").write_text(ITEMS_HEADER + "o1,1,p1,s1,2017-09-19 09:45:35,58.90,13.29\n")
    out = StringIO()

    call_command("load_demo", str(tmp_path), stdout=out)

    assert "ship-by dates shifted by" in out.getvalue()
    assert Package.objects.get(number="o1-1").ship_by >= timezone.now() - dt.timedelta(minutes=5)


@pytest.mark.django_db
def test_load_demo_with_a_missing_directory_fails_clearly(tmp_path):
    with pytest.raises(CommandError, match="Directory not found"):
        call_command("load_demo", str(tmp_path / "nowhere"), stdout=StringIO())
    assert not Package.objects.exists()


@pytest.mark.slow
@pytest.mark.django_db
def test_load_demo_without_olist_files_reaches_every_state_with_a_few_late_packages():
    out = StringIO()

    call_command("load_demo", stdout=out)

    printed = out.getvalue()
    assert "Generated demo data in the Olist format" in printed and "States not reached" not in printed
    package_counts = Counter(Package.objects.values_list("status", flat=True))
    assert [Status(code).label for code in Status.values if not package_counts[code]] == []
    transfer_counts = Counter(Transfer.objects.values_list("status", flat=True))
    assert [slug for slug in TransferStatus.values if not transfer_counts[slug]] == []
    now = timezone.now()
    open_packages = Package.objects.filter(status__in=list(BEFORE_HANDOVER_STATES), ship_by__isnull=False)
    late = open_packages.filter(ship_by__lt=now).count()
    assert 0.01 < late / open_packages.count() < 0.10
    span = Package.objects.aggregate(first=Min("ship_by"), last=Max("ship_by"))
    assert now - dt.timedelta(days=11) < span["first"] and span["last"] < now + dt.timedelta(days=11)

    again = StringIO()
    call_command("load_demo", stdout=again)
    assert "Packages already present" in again.getvalue()


@pytest.mark.django_db
def test_demo_without_pending_packages_of_the_brand_says_what_to_run_first():
    Brand.objects.create(slug="olist", name="Olist")

    with pytest.raises(CommandError, match="scripts/manage load_demo"):
        call_command("demo", stdout=StringIO())


def test_demo_command_on_an_empty_database_exits_1_without_a_traceback(tmp_path):
    """Regression: ``scripts/manage demo`` before any import ended in Brand.DoesNotExist (and
    before any migration in "no such table")."""
    root = Path(settings.BASE_DIR)
    env = {key: value for key, value in os.environ.items()
           if key not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "OMS_VAR_DIR")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}", DJANGO_DEBUG="true",
               OMS_VAR_DIR=str(tmp_path))
    manage = [sys.executable, str(root / "manage.py")]

    def run(*command: str) -> subprocess.CompletedProcess:
        return subprocess.run([*manage, *command], cwd=root, env=env, capture_output=True, text=True,
                              timeout=300)

    unmigrated = run("demo")
    assert unmigrated.returncode == 1 and "Traceback" not in unmigrated.stderr
    assert "scripts/manage migrate" in unmigrated.stderr
    assert run("migrate", "--noinput", "-v", "0").returncode == 0

    empty = run("demo")

    assert empty.returncode == 1
    assert "Traceback" not in empty.stderr
    assert "scripts/manage load_demo" in empty.stderr and "import_olist DIR" in empty.stderr
