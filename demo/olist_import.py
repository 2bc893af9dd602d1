"""Import the Olist marketplace CSVs: sellers, products and order items.

Mapping (the files of the Olist public data set, or ``demo.sample_data``'s generated ones):

- each row of ``sellers.csv`` becomes a ``StockLocation`` (code = seller id);
- each row of ``products.csv`` becomes a ``Sku`` (code = product id), with the English
  category name from ``product_category_name_translation.csv`` when it has one;
- the rows of ``order_items.csv`` sharing ``(order_id, seller_id)`` become one package at
  the seller's location, created through ``packages.creation.package_create`` (which
  reserves stock and picks the starting state: Pending, Pending Transfer or Product Out of
  Stock). Rows of one group with the same product are one item; ``quantity`` is their count.

With ``shift_dates`` every ship-by moves by the same whole number of weeks (weekdays and
times of day stay) so the newest falls within the week after now: the Olist sample's
deadlines lie in 2016–2018.

Before packages are created, every (location, SKU) pair with demand and no stock row yet
gets a ``StockLevel`` whose ``on_hand`` comes from a hash of the pair, so a re-import of
the same files reproduces the same stock: about 9 % of pairs start at 0 (their packages
start Product Out of Stock, or Pending Transfer when another location has spare units),
the others hold the demand plus 0–2 spare units. Packages are created earliest ship-by
first, so scarce units go to the earliest deadline.

Writes are set-based: the catalogue in one statement per table, packages in chunks through
``package_create_many`` (the rules of ``package_create``, which it calls itself only for
the packages that may get transfers). On PostgreSQL the rows go from plain values
(``INSERT … SELECT FROM unnest``, ``oms.bulk_sql``), elsewhere with ``bulk_create``;
both write the same rows.

All or nothing per file set: every header is checked before anything is written, and the
whole import is one transaction. Re-running is idempotent: locations, SKUs and stock rows
that exist are left alone, and a package group whose ``external_ref``
(``"olist:<order_id>:<seller_id>"``) exists is counted as already present. Dirty rows never
raise: they are skipped and listed in the report with file name, line number and reason,
and their whole order is refused (one report line per order) until a corrected file is
imported, so no package is ever created short.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import itertools
import re
import time
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo

import ftfy
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import connection, transaction
from django.utils import timezone

from locations.models import Sku, StockLevel, StockLocation
from locations.services import stock_locations_created
from oms import bulk_sql
from oms.actions.actors import system_actor
from oms.actions.errors import OmsError
from packages.creation import ItemInput, PackageSpec, package_create_many
from packages.models import Brand, Package, Status

SELLERS_FILE = "sellers.csv"
PRODUCTS_FILE = "products.csv"
TRANSLATION_FILE = "product_category_name_translation.csv"
ORDER_ITEMS_FILE = "order_items.csv"
REQUIRED_FILES = (SELLERS_FILE, PRODUCTS_FILE, ORDER_ITEMS_FILE)

SOURCE_TIME_ZONE = ZoneInfo("America/Sao_Paulo")
EXTERNAL_REF_PREFIX = "olist"
PACKAGE_CHUNK_SIZE = 500  # package groups per package_create_many call (one transaction)
BULK_BATCH_SIZE = 500
QUERY_CHUNK_SIZE = 500  # values per ``__in`` lookup (SQLite's parameter limit)
OUT_OF_STOCK_PERCENT = 9  # share of seeded (location, SKU) pairs that start with 0 on hand
MAX_SPARE_UNITS = 2
MAX_ID_LENGTH = 64  # StockLocation.code, Sku.code, Package.order_number
MAX_EXTERNAL_REF_LENGTH = 120  # Package.external_ref
MAX_AMOUNT = Decimal("9999999999.99")  # PackageItem.unit_price: max_digits=12, 2 places
MAX_DIMENSION = 2_147_483_647  # PositiveIntegerField on PostgreSQL
MISSING_CATEGORY = frozenset({"", "#n/a", "n/a", "na", "null", "none", "nan", "-"})
MAX_LISTED_GAPS = 5  # missing order_item_id numbers named per refused order
SHIFT_STEP = dt.timedelta(weeks=1)  # ship-by dates move by whole weeks (see olist_import)
DATE_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y")

# Canonical column -> (accepted header names, words that identify the column when no name
# matches). Headers are compared lower-cased with runs of non-alphanumerics as "_".
SELLER_COLUMNS = {
    "seller_id": (("seller_id", "id", "seller", "code"), ()),
    "zip": (("seller_zip_code_prefix", "zip_code_prefix", "seller_zip_code", "zip_code",
             "zip", "cep", "postcode"), ("zip",)),
    "city": (("seller_city", "seler_city", "sellers_city", "city", "cidade"), ("city",)),
    "state": (("seller_state", "state", "uf", "region"), ("state",)),
}
PRODUCT_COLUMNS = {
    "product_id": (("product_id", "id", "product", "code"), ()),
    "category": (("product_category_name", "category_name", "category",
                  "product_category", "product_category_name_english"), ("categ",)),
    "weight_g": (("product_weight_g", "weight_g", "weight"), ("weight",)),
    "length_cm": (("product_length_cm", "product_lenght_cm", "length_cm", "length"),
                  ("length", "lenght")),
    "height_cm": (("product_height_cm", "height_cm", "height"), ("height",)),
    "width_cm": (("product_width_cm", "width_cm", "width"), ("width",)),
}
TRANSLATION_COLUMNS = {
    "portuguese": (("product_category_name", "category_name", "portuguese"), ()),
    "english": (("product_category_name_english", "category_name_english", "english"),
                ("english",)),
}
ORDER_ITEM_COLUMNS = {
    "order_id": (("order_id", "order"), ()),
    "order_item_id": (("order_item_id", "item_id"), ()),
    "product_id": (("product_id", "product"), ()),
    "seller_id": (("seller_id", "seller"), ()),
    "shipping_limit_date": (("shipping_limit_date", "shipping_limit", "ship_by"),
                            ("shipping", "limit")),
    "price": (("price", "unit_price", "item_price"), ("price",)),
    "freight_value": (("freight_value", "freight"), ("freight",)),
}


# File -> (column spec, required columns). The translation file is optional.
FILE_COLUMNS = {
    SELLERS_FILE: (SELLER_COLUMNS, ("seller_id",)),
    PRODUCTS_FILE: (PRODUCT_COLUMNS, ("product_id",)),
    TRANSLATION_FILE: (TRANSLATION_COLUMNS, ("portuguese", "english")),
    ORDER_ITEMS_FILE: (ORDER_ITEM_COLUMNS, ("order_id", "product_id", "seller_id",
                                            "shipping_limit_date", "price")),
}


class OlistImportError(OmsError):
    """The import cannot run: a missing directory or required file, an empty file, a
    required column missing from a header. Nothing has been written."""

    code = "olist_import_invalid"
    http_status = 400


@dataclass(frozen=True)
class SkippedRow:
    """A row (or package group) the import did not use: ``line`` is 1-based, header = 1."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file} line {self.line}: {self.reason}"


@dataclass(frozen=True)
class _BrokenRow:
    """A row of the wrong shape (column count, unreadable CSV): the values it still has by
    canonical column; ``is_cut`` when it is the file's last line and lacks its line break."""

    line: int
    values: dict[str, str]
    is_cut: bool = False


@dataclass
class OlistImportReport:
    """What one import did. Counts are rows / packages; ``elapsed_seconds`` is wall time.

    ``skipped`` lists every unused row in file order, then one line per refused order
    (``order <id> refused, package <numbers> not created (<why>); fix the file and import
    again``, at the order's first line), then every package group that ``package_create``
    refused (with the line of the group's first row). ``packages_failed`` counts the
    packages of both kinds.
    """

    directory: str = ""
    brand: str = ""
    locations_created: int = 0
    locations_present: int = 0
    skus_created: int = 0
    skus_present: int = 0
    stock_levels_seeded: int = 0
    packages_by_status: dict[int, int] = field(default_factory=dict)  # Status code -> count
    packages_present: int = 0
    packages_failed: int = 0
    orders_refused: int = 0  # orders with a skipped, cut or missing row: no package created
    item_rows_read: int = 0
    cities_repaired: int = 0
    lines_recoded: int = 0
    elapsed_seconds: float = 0.0
    ship_by_shift: dt.timedelta | None = None  # added to every ship-by (``shift_dates``)
    newest_ship_by: dt.datetime | None = None  # after the shift
    skipped: list[SkippedRow] = field(default_factory=list)
    warnings: list[SkippedRow] = field(default_factory=list)  # rows used, a value left unknown

    @property
    def packages_created(self) -> int:
        """Packages created by this run, in any starting state."""
        return sum(self.packages_by_status.values())

    @property
    def packages_pending(self) -> int:
        """Created packages that started Pending (every unit reserved at their location)."""
        return self.packages_by_status.get(Status.PENDING, 0)

    @property
    def packages_out_of_stock(self) -> int:
        """Created packages that started Product Out of Stock (nothing reserved)."""
        return self.packages_by_status.get(Status.PRODUCT_OUT_OF_STOCK, 0)

    @property
    def item_rows_per_second(self) -> float:
        """``item_rows_read / elapsed_seconds`` (0.0 before anything was timed)."""
        return self.item_rows_read / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    def skip(self, file: str, line: int, reason: str) -> None:
        """Record that ``line`` of ``file`` was not used, and why."""
        self.skipped.append(SkippedRow(file=file, line=line, reason=reason))

    def lines(self, *, max_skipped: int = 50) -> list[str]:
        """Return the report as printable lines, listing at most ``max_skipped`` skip lines."""
        out = [
            f"Olist import from {self.directory} (brand {self.brand})",
            f"  locations: {self.locations_created} created, {self.locations_present} already present",
            f"  SKUs: {self.skus_created} created, {self.skus_present} already present",
            f"  stock rows seeded: {self.stock_levels_seeded}",
            (f"  packages: {self.packages_created} created ({self._status_split()}), "
             f"{self.packages_present} already present, {self.packages_failed} not created"),
            f"  orders refused (a row skipped, cut off or missing; nothing of them created): "
            f"{self.orders_refused}",
            f"  order item rows read: {self.item_rows_read}",
            *self._shift_lines(),
            f"  city names repaired: {self.cities_repaired}",
            f"  lines not valid UTF-8 (read as cp1252/latin-1): {self.lines_recoded}",
            f"  rows skipped: {len(self.skipped)}",
        ]
        out += [f"    {row}" for row in self.skipped[:max_skipped]]
        if len(self.skipped) > max_skipped:
            out.append(f"    … and {len(self.skipped) - max_skipped} more")
        if self.warnings:
            out.append(f"  rows used with a value left unknown: {len(self.warnings)}")
            out += [f"    {row}" for row in self.warnings[:max_skipped]]
            if len(self.warnings) > max_skipped:
                out.append(f"    … and {len(self.warnings) - max_skipped} more")
        out.append(f"  elapsed: {self.elapsed_seconds:.1f} s "
                   f"({self.item_rows_per_second:.0f} item rows/s)")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def _shift_lines(self) -> list[str]:
        if self.ship_by_shift is None or self.newest_ship_by is None:
            return []
        newest = self.newest_ship_by.astimezone(SOURCE_TIME_ZONE)
        return [f"  ship-by dates shifted by {self.ship_by_shift.days:+,} days "
                f"({self.ship_by_shift.days // 7:+,} weeks) so the newest is {newest:%Y-%m-%d %H:%M} "
                "(São Paulo)"]

    def _status_split(self) -> str:
        counts = {Status.PENDING: 0, Status.PRODUCT_OUT_OF_STOCK: 0, **self.packages_by_status}
        return ", ".join(f"{n} {Status(code).label}" for code, n in sorted(counts.items()))


# --- text and values -----------------------------------------------------------------------

# Characters cp1252 gives for the UTF-8 continuation bytes 0x80–0xBF (latin-1 where cp1252
# leaves a byte undefined). A mojibake lead character is followed by one of them.
_CONTINUATION_CHARS = "".join(
    bytes([b]).decode("cp1252", errors="ignore") or bytes([b]).decode("latin-1")
    for b in range(0x80, 0xC0)
)
# ftfy only recognises the upper-case lead characters ("Ã", "Â", "Ì"); the data also has
# lower-cased mojibake ("Saìƒo" for "São" written as "Sa" + combining tilde + "o").
_LOWERCASE_LEAD = re.compile(f"[ìâ](?=[{re.escape(_CONTINUATION_CHARS)}])")
_LEAD_UPPER = {"ì": "Ì", "â": "Â"}


def mojibake_repair(text: str) -> str:
    """Return ``text`` with double-encoded UTF-8 undone, NFC-normalised.

    ``"Saìƒo Paulo"`` -> ``"São Paulo"``, ``"Santa Barbara Dâ´Oeste"`` -> ``"Santa Barbara
    D´Oeste"``. Plain ASCII comes back unchanged; so does correct text such as
    ``"Mâncio Lima"`` (a lead character is upper-cased only before a continuation
    character, so ftfy sees the mojibake it knows).
    """
    if text.isascii():
        return text
    upper = _LOWERCASE_LEAD.sub(lambda m: _LEAD_UPPER[m.group()], text)
    fixed = unicodedata.normalize("NFC", ftfy.fix_text(upper))
    if fixed == unicodedata.normalize("NFC", upper):  # nothing to repair: keep the original case
        return unicodedata.normalize("NFC", text)
    return fixed


def _decode_lines(data: bytes) -> tuple[list[str], int]:
    """Split ``data`` into lines decoded as UTF-8, else cp1252, else latin-1 (per line).

    Returns ``(lines, number of lines not valid UTF-8)``. A UTF-8 BOM and NUL characters
    (refused by PostgreSQL) are dropped.
    """
    data = data.removeprefix(codecs.BOM_UTF8)
    lines, recoded = [], 0
    for raw in data.splitlines():  # bytes.splitlines: only \n, \r and \r\n
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            recoded += 1
            try:
                text = raw.decode("cp1252")
            except UnicodeDecodeError:
                text = raw.decode("latin-1", errors="replace")
        lines.append(text.replace("\x00", ""))
    if lines:
        lines[0] = lines[0].lstrip("\ufeff")
    return lines, recoded


def _header_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().strip("\"'").lower()).strip("_")


def _match_columns(headers: Sequence[str], spec: dict, *, file: str,
                   required: Iterable[str]) -> dict[str, int]:
    """Return ``{canonical name: column index}``; raise OlistImportError for a missing
    required column."""
    keys = [_header_key(h) for h in headers]
    columns: dict[str, int] = {}
    for name, (aliases, _words) in spec.items():
        for alias in aliases:
            if alias in keys and keys.index(alias) not in columns.values():
                columns[name] = keys.index(alias)
                break
    for name, (_aliases, words) in spec.items():
        if name in columns or not words:
            continue
        for index, key in enumerate(keys):
            if index not in columns.values() and any(word in key for word in words):
                columns[name] = index
                break
    missing = [name for name in required if name not in columns]
    if missing:
        raise OlistImportError(
            f"{file}: no column for {', '.join(missing)} (header: {', '.join(headers)})",
            file=file, missing=missing,
        )
    return columns


def _read_table(path: Path, spec: dict, required: Iterable[str], *, report: OlistImportReport,
                broken: list[_BrokenRow] | None = None) -> tuple[list[tuple[int, dict[str, str]]], int]:
    """Return ``([(line number, {canonical column: raw value})], data line count)`` for a CSV.

    Blank lines are ignored; a row whose column count differs from the header's (beyond
    trailing empty fields) is skipped into ``report`` and, with ``broken`` given, also
    appended to it with the values it still has (so its order can be refused). Each line is
    parsed on its own, so a stray quote cannot swallow the rows after it (Olist values never
    span lines). Raises OlistImportError when the file has no header or lacks a required column.
    """
    data = path.read_bytes()
    lines, recoded = _decode_lines(data)
    report.lines_recoded += recoded
    # A last line without a line break that does not parse is where the file was cut.
    cut_line = len(lines) if data and not data.endswith((b"\n", b"\r")) else 0
    rows: list[tuple[int, dict[str, str]]] = []
    header: list[str] | None = None
    columns: dict[str, int] = {}
    data_lines = 0
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        data_lines += header is not None
        try:
            fields, problem = next(csv.reader([text], skipinitialspace=True)), ""
        except csv.Error as exc:
            fields, problem = text.split(","), f"unreadable CSV line ({exc})"
        if header is None:
            if problem:
                raise OlistImportError(f"{path.name}: unreadable header ({problem})", file=path.name)
            header = fields
            columns = _match_columns(header, spec, file=path.name, required=required)
            continue
        if len(fields) > len(header) and not any(f.strip() for f in fields[len(header):]):
            fields = fields[:len(header)]
        if not problem and len(fields) != len(header):
            problem = f"expected {len(header)} columns, found {len(fields)}"
        if problem:
            if number == cut_line:
                problem += ", cut off at the end of the file"
            report.skip(path.name, number, problem)
            if broken is not None:
                broken.append(_BrokenRow(
                    line=number, is_cut=number == cut_line,
                    values={name: fields[index] for name, index in columns.items() if index < len(fields)}))
            continue
        rows.append((number, {name: fields[index] for name, index in columns.items()}))
    if header is None:
        raise OlistImportError(f"{path.name} is empty (no header line)", file=path.name)
    return rows, data_lines


def _clean_id(value: str | None) -> str:
    """``' "abc" '`` -> ``"abc"``: ids come quoted or not, with stray whitespace."""
    return (value or "").strip().strip("\"'").strip()


_ID_CHARS = re.compile(r"[A-Za-z0-9_.:-]+")


def _id_problem(name: str, value: str) -> str | None:
    """Why ``value`` cannot be the id ``name`` (missing, too long, odd characters), or None."""
    if not value:
        return f"missing {name}"
    if len(value) > MAX_ID_LENGTH:
        return f"{name} longer than {MAX_ID_LENGTH} characters"
    if not _ID_CHARS.fullmatch(value):
        return f"{name} {value!r} has characters an id cannot hold"
    return None


def _clean_text(value: str | None) -> str:
    return " ".join((value or "").split())


def _int_or_none(value: str | None) -> int | None:
    """A whole non-negative number (``"154"``, ``"154.0"``) as int, else None."""
    try:
        number = Decimal(_clean_id(value).replace(",", "."))
    except InvalidOperation:
        return None
    if not number.is_finite() or number < 0 or number != number.to_integral_value():
        return None
    return int(number) if number <= MAX_DIMENSION else None


def _amount(value: str | None) -> Decimal | None:
    """A BRL amount (``"58.90"``, ``"58,90"``) rounded to cents, else None (also < 0)."""
    text = _clean_id(value)
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT:
        return None
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _ship_by(value: str | None) -> dt.datetime | None:
    """Parse a São Paulo wall-clock time (ISO or dd/mm/yyyy) into an aware UTC datetime."""
    text = _clean_id(value)
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        for fmt in DATE_FORMATS:
            try:
                moment = dt.datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        else:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SOURCE_TIME_ZONE)
    return moment.astimezone(dt.UTC)


def _humanise(category: str) -> str:
    return " ".join(word.capitalize() for word in re.split(r"[_\s]+", category) if word)


def _stock_seed(seller_id: str, product_id: str, demand: int) -> int:
    """Deterministic on-hand units for a new (seller, product) pair with ``demand`` units."""
    digest = int.from_bytes(hashlib.md5(f"{seller_id}|{product_id}".encode()).digest()[:8], "big")
    if digest % 100 < OUT_OF_STOCK_PERCENT:
        return 0
    return demand + (digest // 100) % (MAX_SPARE_UNITS + 1)


def _chunks(values: Sequence, size: int = QUERY_CHUNK_SIZE):
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _existing(model, field_name: str, values: Iterable, *, columns: Sequence[str]) -> list:
    """Return ``values_list(*columns)`` of ``model`` rows whose ``field_name`` is in ``values``."""
    return bulk_sql.rows_matching(model, field_name, values, columns)


def _insert_catalogue(model, objs: list, fields: Sequence[str], *, ignore_conflicts: bool = False) -> None:
    """Insert the unsaved ``StockLocation`` / ``Sku`` instances ``objs`` as ``bulk_create``
    does: on PostgreSQL from their ``fields`` in one statement (the other columns get their
    defaults), elsewhere with ``bulk_create``. Without ``ignore_conflicts`` the instances
    get their primary key (matched by the unique ``code``) and timestamps."""
    if not bulk_sql.supported():
        model.objects.bulk_create(objs, batch_size=BULK_BATCH_SIZE, ignore_conflicts=ignore_conflicts)
        return
    now = timezone.now()
    returned = bulk_sql.insert_rows(
        model, {name: [getattr(obj, name) for obj in objs] for name in fields}, now=now,
        returning=() if ignore_conflicts else ("id", "code"), ignore_conflicts=ignore_conflicts)
    ids = {code: pk for pk, code in returned}
    for obj in objs if not ignore_conflicts else ():
        obj.pk, obj.created_at, obj.updated_at = ids[obj.code], now, now
        obj._state.adding, obj._state.db = False, connection.alias


# --- catalogue: sellers and products -------------------------------------------------------

def _import_sellers(path: Path, report: OlistImportReport) -> None:
    rows, _ = _read_table(path, *FILE_COLUMNS[SELLERS_FILE], report=report)
    sellers: dict[str, StockLocation] = {}
    first_line: dict[str, int] = {}
    for line, row in rows:
        code = _clean_id(row["seller_id"])
        if not code:
            report.skip(path.name, line, "missing seller_id")
            continue
        if problem := _id_problem("seller_id", code):
            report.skip(path.name, line, problem)
            continue
        if code in sellers:
            report.skip(path.name, line, f"duplicate seller_id {code} (first at line {first_line[code]})")
            continue
        raw_city = _clean_text(row.get("city"))
        city = mojibake_repair(raw_city)
        if city != raw_city:
            report.cities_repaired += 1
        city = city[:100]
        state = _clean_text(row.get("state")).upper()[:100]
        postcode = _clean_id(row.get("zip"))
        if postcode.isdigit() and len(postcode) < 5:  # CEP prefixes lost their leading zeros
            postcode = postcode.zfill(5)
        place = "/".join(part for part in (city, state) if part) or "Seller"
        sellers[code] = StockLocation(
            code=code, name=f"{place} · {code[:8]}"[:200], city=city, region=state,
            postcode=postcode[:20], kind=StockLocation.Kind.WAREHOUSE,
            time_zone=SOURCE_TIME_ZONE.key,
        )
        first_line[code] = line
    present = {code for (code,) in _existing(StockLocation, "code", sellers, columns=["code"])}
    new = [location for code, location in sellers.items() if code not in present]
    _insert_catalogue(StockLocation, new, ("code", "name", "city", "region", "postcode", "kind",
                                           "time_zone"))
    stock_locations_created(new)
    report.locations_created += len(new)
    report.locations_present += len(present)


def _read_translations(path: Path, report: OlistImportReport) -> dict[str, str]:
    if not path.is_file():
        return {}
    rows, _ = _read_table(path, *FILE_COLUMNS[TRANSLATION_FILE], report=report)
    translations = {}
    for line, row in rows:
        portuguese, english = _clean_id(row["portuguese"]), _clean_id(row["english"])
        if not portuguese or not english:
            report.skip(path.name, line, "missing category name or its English translation")
            continue
        translations[portuguese.lower()] = english
    return translations


def _import_products(path: Path, translations: dict[str, str], report: OlistImportReport) -> None:
    rows, _ = _read_table(path, *FILE_COLUMNS[PRODUCTS_FILE], report=report)
    products: dict[str, Sku] = {}
    first_line: dict[str, int] = {}
    for line, row in rows:
        code = _clean_id(row["product_id"])
        if not code:
            report.skip(path.name, line, "missing product_id")
            continue
        if problem := _id_problem("product_id", code):
            report.skip(path.name, line, problem)
            continue
        if code in products:
            report.skip(path.name, line, f"duplicate product_id {code} (first at line {first_line[code]})")
            continue
        category = _clean_id(row.get("category"))
        if category.lower() in MISSING_CATEGORY:
            category = ""
        category = translations.get(category.lower(), category)[:100]
        sizes = {}
        for name in ("weight_g", "length_cm", "height_cm", "width_cm"):
            raw = _clean_id(row.get(name))
            sizes[name] = _int_or_none(raw)
            if raw and sizes[name] is None:
                report.warnings.append(
                    SkippedRow(path.name, line, f"{name} {raw!r} unreadable, kept unknown"))
        products[code] = Sku(
            code=code, name=f"{_humanise(category) or 'Product'} {code[:8]}"[:200],
            category=category, **sizes,
        )
        first_line[code] = line
    present = {code for (code,) in _existing(Sku, "code", products, columns=["code"])}
    new = [sku for code, sku in products.items() if code not in present]
    _insert_catalogue(Sku, new, ("code", "name", "category", "weight_g", "length_cm", "height_cm",
                                 "width_cm"), ignore_conflicts=True)
    report.skus_created += len(new)
    report.skus_present += len(present)


# --- order items ---------------------------------------------------------------------------

@dataclass(slots=True)  # one per package line: slots keep the import's memory down
class _Item:
    quantity: int
    unit_price: Decimal
    freight_value: Decimal


@dataclass(slots=True)
class _Group:
    """The good rows of one (order, seller): one package."""

    order_id: str
    seller_id: str
    rank: int
    first_line: int
    ship_by: dt.datetime | None = None
    items: dict[str, _Item] = field(default_factory=dict)  # product_id -> item

    @property
    def number(self) -> str:
        return f"{self.order_id}-{self.rank}"

    @property
    def external_ref(self) -> str:
        return f"{EXTERNAL_REF_PREFIX}:{self.order_id}:{self.seller_id}"


def _group_order_items(rows: list[tuple[int, dict[str, str]]], report: OlistImportReport, *,
                       locations: dict[str, StockLocation], skus: dict[str, Sku],
                       broken: Sequence[_BrokenRow] = ()) -> tuple[list[_Group], dict[str, list[str]]]:
    """Group the good rows of ``order_items.csv`` by (order, seller), in file order.

    Consumes ``rows``: the list is empty afterwards, each row freed once grouped, so the
    raw rows and the groups are not both held in full (the import's peak memory).

    Returns ``(groups, refused)``: ``refused`` maps an order id to why none of its packages
    may be created now. An order is refused whole when any of its rows was skipped (a bad
    value, a duplicate ``order_item_id``, a row of ``broken``: wrong column count), or its
    ``order_item_id`` values skip a number (a lost row): part of it would ship short and,
    once imported, never be completed by a corrected file. A ``broken`` row cut off at the
    end of the file refuses every order whose id starts with what is left of its id.

    The seller's rank ``k`` in the package number ``<order_id>-<k>`` counts every row that
    names an order and a seller, good or not, so fixing a bad row later does not renumber
    packages. Rows repeating an ``order_item_id`` of their order are skipped as duplicates.
    """
    ranks: dict[str, dict[str, int]] = defaultdict(dict)
    groups: dict[tuple[str, str], _Group] = {}
    item_lines: dict[tuple[str, str], int] = {}  # (order_id, order_item_id) -> line
    refused: dict[str, list[str]] = defaultdict(list)
    # order_id -> highest order_item_id and how many rows carried one (None: a row had none)
    item_counts: dict[str, list[int] | None] = {}
    rows.reverse()
    while rows:
        line, row = rows.pop()
        order_id, seller_id = _clean_id(row["order_id"]), _clean_id(row["seller_id"])
        product_id = _clean_id(row["product_id"])
        if order_id and seller_id:
            ranks[order_id].setdefault(seller_id, len(ranks[order_id]) + 1)
        problems = [problem for name, value in
                    (("order_id", order_id), ("product_id", product_id), ("seller_id", seller_id))
                    if (problem := _id_problem(name, value))]
        raw_item_id = _clean_id(row.get("order_item_id"))
        if raw_item_id:
            if not raw_item_id.isascii() or not raw_item_id.isdigit() or int(raw_item_id) < 1:
                problems.append(f"invalid order_item_id {raw_item_id!r}")
            elif (order_id, raw_item_id) in item_lines:
                problems.append(f"duplicate order_item_id {raw_item_id} of order {order_id} "
                                f"(first at line {item_lines[order_id, raw_item_id]})")
            else:
                item_lines[order_id, raw_item_id] = line
                counts = item_counts.setdefault(order_id, [0, 0])
                if counts is not None:
                    counts[0], counts[1] = max(counts[0], int(raw_item_id)), counts[1] + 1
        elif order_id:
            item_counts[order_id] = None
        raw_date = _clean_id(row["shipping_limit_date"])
        ship_by = _ship_by(raw_date)
        if ship_by is None:
            problems.append(f"invalid shipping_limit_date {raw_date!r}" if raw_date
                            else "missing shipping_limit_date")
        price = _amount(row["price"])
        if price is None:
            problems.append(f"invalid price {_clean_id(row['price'])!r}")
        raw_freight = _clean_id(row.get("freight_value"))
        freight = _amount(raw_freight) if raw_freight else Decimal("0.00")
        if freight is None:
            problems.append(f"invalid freight_value {raw_freight!r}")
        if seller_id and seller_id not in locations and len(seller_id) <= MAX_ID_LENGTH:
            problems.append(f"unknown seller_id {seller_id}")
        if product_id and product_id not in skus and len(product_id) <= MAX_ID_LENGTH:
            problems.append(f"unknown product_id {product_id}")
        if not problems and len(f"{EXTERNAL_REF_PREFIX}:{order_id}:{seller_id}") > MAX_EXTERNAL_REF_LENGTH:
            problems.append(f"order_id and seller_id too long for an external_ref "
                            f"({MAX_EXTERNAL_REF_LENGTH} characters)")
        if problems:
            report.skip(ORDER_ITEMS_FILE, line, "; ".join(problems))
            if order_id:
                refused[order_id].append(f"line {line} skipped")
            continue
        group = groups.get((order_id, seller_id))
        if group is None:
            group = groups[order_id, seller_id] = _Group(
                order_id=order_id, seller_id=seller_id, rank=ranks[order_id][seller_id],
                first_line=line,
            )
        group.ship_by = ship_by if group.ship_by is None else min(group.ship_by, ship_by)
        item = group.items.get(product_id)
        if item is None:  # same product again: one more unit; the first row's price stays
            group.items[product_id] = _Item(quantity=1, unit_price=price, freight_value=freight)
        else:
            item.quantity += 1
            item.freight_value += freight
    for row in broken:  # already in report.skipped, with their reason
        order_id = _clean_id(row.values.get("order_id"))
        if row.is_cut:  # its id may be cut too: refuse every order it could belong to
            cut_orders = {order for order, _ in groups if order.startswith(order_id)}
            for order in cut_orders | ({order_id} if order_id else set()):
                refused[order].append(f"line {row.line} cut off at the end of the file")
        elif order_id:
            refused[order_id].append(f"line {row.line} skipped")
        raw_item_id = _clean_id(row.values.get("order_item_id"))
        if (order_id and raw_item_id.isascii() and raw_item_id.isdigit() and int(raw_item_id) >= 1
                and (order_id, raw_item_id) not in item_lines):  # not lost: no gap for it
            item_lines[order_id, raw_item_id] = row.line
            counts = item_counts.setdefault(order_id, [0, 0])
            if counts is not None:
                counts[0], counts[1] = max(counts[0], int(raw_item_id)), counts[1] + 1
    gapped = {order_id for order_id, counts in item_counts.items()
              if counts is not None and counts[0] > counts[1]}
    present: dict[str, set[int]] = defaultdict(set)
    for order_id, item_id in item_lines:
        if order_id in gapped:
            present[order_id].add(int(item_id))
    for order_id in sorted(gapped):
        ids = present[order_id]
        missing = itertools.islice((n for n in range(1, max(ids)) if n not in ids), MAX_LISTED_GAPS + 1)
        numbers = [str(n) for n in missing]
        listed = ", ".join(numbers[:MAX_LISTED_GAPS]) + (", …" if len(numbers) > MAX_LISTED_GAPS else "")
        refused[order_id].append(f"order_item_id {listed} missing")
    return [group for group in groups.values() if group.items], dict(refused)


def _seed_stock(groups: Sequence[_Group], *, locations: dict[str, StockLocation],
                skus: dict[str, Sku], report: OlistImportReport) -> None:
    """Create the missing StockLevel rows for the demand of ``groups``; never touch others."""
    demand: dict[tuple[str, str], int] = defaultdict(int)
    for group in groups:
        for product_id, item in group.items.items():
            demand[group.seller_id, product_id] += item.quantity
    location_ids = {locations[seller_id].pk for seller_id, _ in demand}
    present = set(_existing(StockLevel, "location_id", location_ids,
                            columns=["location_id", "sku_id"]))
    new = [
        (locations[seller_id].pk, skus[product_id].pk, _stock_seed(seller_id, product_id, units))
        for (seller_id, product_id), units in sorted(demand.items())
        if (locations[seller_id].pk, skus[product_id].pk) not in present
    ]
    if bulk_sql.supported():
        bulk_sql.insert_rows(StockLevel, bulk_sql.columns_of(("location_id", "sku_id", "on_hand"), new),
                                now=timezone.now(), ignore_conflicts=True)
    else:
        StockLevel.objects.bulk_create(
            [StockLevel(location_id=location_id, sku_id=sku_id, on_hand=on_hand)
             for location_id, sku_id, on_hand in new],
            batch_size=BULK_BATCH_SIZE, ignore_conflicts=True)
    report.stock_levels_seeded += len(new)


def _create_packages(groups: Sequence[_Group], *, brand: Brand, locations: dict[str, StockLocation],
                     skus: dict[str, Sku], report: OlistImportReport) -> None:
    """Create one package per group through ``package_create_many``, earliest ship-by first,
    ``PACKAGE_CHUNK_SIZE`` groups per call (one transaction each)."""
    actor = system_actor(f"import:{EXTERNAL_REF_PREFIX}")
    far_future = dt.datetime.max.replace(tzinfo=dt.UTC)
    ordered = sorted(groups, key=lambda g: (g.ship_by or far_future, g.first_line))
    for chunk in _chunks(ordered, PACKAGE_CHUNK_SIZE):
        specs = [
            PackageSpec(
                order_number=group.order_id, brand=brand, location=locations[group.seller_id],
                items=[ItemInput(sku=skus[product_id], quantity=item.quantity,
                                 unit_price=item.unit_price, freight_value=item.freight_value)
                       for product_id, item in group.items.items()],
                ship_by=group.ship_by, number=group.number, external_ref=group.external_ref,
            )
            for group in chunk
        ]
        results = package_create_many(specs=specs, actor=actor, instances=False)
        for group, result in zip(chunk, results, strict=True):
            if isinstance(result, OmsError):
                report.packages_failed += 1
                report.skip(ORDER_ITEMS_FILE, group.first_line,
                            f"package {group.number} not created: {result.detail}")
                continue
            status = int(result.status)
            report.packages_by_status[status] = report.packages_by_status.get(status, 0) + 1


# --- entry point ---------------------------------------------------------------------------

def olist_import(*, directory: str | Path, brand_slug: str = "olist", shift_dates: bool = False,
                 now: dt.datetime | None = None) -> OlistImportReport:
    """Import the Olist CSVs in ``directory`` and return what was done.

    Reads ``sellers.csv``, ``products.csv``, ``order_items.csv`` and, if present,
    ``product_category_name_translation.csv``. Creates missing stock locations, SKUs and
    stock rows (bulk), then one package per (order, seller) group with the rules of
    ``package_create`` (``package_create_many``, ``PACKAGE_CHUNK_SIZE`` groups per call) as
    the system actor ``import:olist``. The brand ``brand_slug`` is created if missing
    (invoice and shipping label required, as for NF-e in Brazil); an existing brand is used
    as it is. With ``shift_dates``, every ship-by of the files moves by the whole number of
    weeks that brings the newest to within the week after ``now`` (default the current
    time); ``report.ship_by_shift`` says by how much.

    All or nothing per file set: every header is checked before anything is written, and
    everything (locations, SKUs, stock, packages, their events) is written in one
    transaction, so an error leaves the database as it was and no event leaves. Rows that
    cannot be used never raise: they are listed in ``report.skipped``, and their whole order
    is refused (no package of it created, one line per order in ``report.skipped``; see
    ``_group_order_items``). Re-running is idempotent: what exists is left alone, what was
    refused before is created once its rows are fixed.

    Raises:
        OlistImportError: ``directory`` or a required file is missing, a file is empty or
            its header lacks a required column, or ``brand_slug`` is not a slug.
    """
    started = time.perf_counter()
    base = Path(directory)
    report = OlistImportReport(directory=str(base), brand=brand_slug)
    if not base.is_dir():
        raise OlistImportError(f"Directory not found: {base}", field="directory")
    missing = [name for name in REQUIRED_FILES if not (base / name).is_file()]
    if missing:
        raise OlistImportError(f"Missing in {base}: {', '.join(missing)}", field="directory",
                               missing=missing)
    try:
        validate_slug(brand_slug)
    except ValidationError:
        raise OlistImportError(f"Brand {brand_slug!r} is not a slug", field="brand") from None
    for name, (spec, required) in FILE_COLUMNS.items():
        if (base / name).is_file():
            _check_header(base / name, spec, required=required)

    with transaction.atomic():
        _import_sellers(base / SELLERS_FILE, report)
        _import_products(base / PRODUCTS_FILE, _read_translations(base / TRANSLATION_FILE, report),
                         report)
        broken: list[_BrokenRow] = []
        rows, report.item_rows_read = _read_table(base / ORDER_ITEMS_FILE, *FILE_COLUMNS[ORDER_ITEMS_FILE],
                                                  report=report, broken=broken)
        locations = _by_code(StockLocation, {_clean_id(row["seller_id"]) for _, row in rows})
        skus = _by_code(Sku, {_clean_id(row["product_id"]) for _, row in rows})
        groups, refused = _group_order_items(rows, report, locations=locations, skus=skus,
                                             broken=broken)
        if shift_dates and groups:
            _shift_ship_by(groups, now=now or timezone.now(), report=report)
        present = {ref for (ref,) in _existing(Package, "external_ref",
                                               [g.external_ref for g in groups],
                                               columns=["external_ref"])}
        new_groups, held, present_orders = [], defaultdict(list), set()
        for group in groups:
            if group.external_ref in present:
                report.packages_present += 1
                present_orders.add(group.order_id)
            elif group.order_id in refused:
                held[group.order_id].append(group)
            else:
                new_groups.append(group)
        _report_refused(held, refused, report)
        # Orders none of whose rows could be used: their skipped rows are listed already.
        report.orders_refused += len(refused.keys() - held.keys() - present_orders)
        if new_groups:
            brand, _ = Brand.objects.get_or_create(
                slug=brand_slug,
                defaults={"name": "Olist" if brand_slug == "olist" else _humanise(brand_slug),
                          "requires_invoice": True, "requires_shipping_label": True},
            )
            _seed_stock(new_groups, locations=locations, skus=skus, report=report)
            _create_packages(new_groups, brand=brand, locations=locations, skus=skus, report=report)
    report.elapsed_seconds = time.perf_counter() - started
    return report


def _shift_ship_by(groups: Sequence[_Group], *, now: dt.datetime, report: OlistImportReport) -> None:
    """Move every group's ship-by by the whole weeks that put the newest in ``[now, now + 1 week)``.

    The weeks are added to the São Paulo wall clock, so weekday and time of day stay as in
    the file even when the old date had summer time (Brazil's ended in 2019) and the new
    one has not."""
    newest = max(group.ship_by for group in groups)
    weeks = -((_wall_clock(newest) - _wall_clock(now)) // SHIFT_STEP)  # ceil((now - newest) / 1 week)
    shift = weeks * SHIFT_STEP
    for group in groups:
        group.ship_by = _from_wall_clock(_wall_clock(group.ship_by) + shift)
    report.ship_by_shift, report.newest_ship_by = shift, _from_wall_clock(_wall_clock(newest) + shift)


def _wall_clock(moment: dt.datetime) -> dt.datetime:
    """The naive São Paulo wall-clock time of the aware ``moment``."""
    return moment.astimezone(SOURCE_TIME_ZONE).replace(tzinfo=None)


def _from_wall_clock(wall: dt.datetime) -> dt.datetime:
    """The aware UTC moment of the naive São Paulo wall-clock time ``wall``."""
    return wall.replace(tzinfo=SOURCE_TIME_ZONE).astimezone(dt.UTC)


def _report_refused(held: dict[str, list[_Group]], refused: dict[str, list[str]],
                    report: OlistImportReport) -> None:
    """Add one line per refused order with packages held back, at its first line."""
    for order_id, groups in sorted(held.items(), key=lambda item: item[1][0].first_line):
        reasons = refused[order_id]
        listed = "; ".join(reasons[:MAX_LISTED_GAPS]) + ("; …" if len(reasons) > MAX_LISTED_GAPS else "")
        numbers = ", ".join(group.number for group in groups)
        report.orders_refused += 1
        report.packages_failed += len(groups)
        report.skip(ORDER_ITEMS_FILE, groups[0].first_line,
                    f"order {order_id} refused, package {numbers} not created ({listed}); "
                    "fix the file and import again")


def _check_header(path: Path, spec: dict, *, required: Iterable[str]) -> None:
    """Raise OlistImportError unless the first non-blank line of ``path`` names every
    ``required`` column (read before anything is written)."""
    header = None
    with path.open("rb") as file:
        for raw in file:
            header = next((line for line in _decode_lines(raw)[0] if line.strip()), None)
            if header is not None:
                break
    if header is None:
        raise OlistImportError(f"{path.name} is empty (no header line)", file=path.name)
    try:
        fields = next(csv.reader([header.lstrip("\ufeff")], skipinitialspace=True))
    except csv.Error as exc:
        raise OlistImportError(f"{path.name}: unreadable header ({exc})", file=path.name) from None
    _match_columns(fields, spec, file=path.name, required=required)


def _by_code(model, codes: Iterable[str]) -> dict:
    """Return ``{code: instance}`` of ``model`` for the non-empty ``codes`` that exist."""
    found = {}
    codes = sorted({c for c in codes if c and len(c) <= MAX_ID_LENGTH})
    size = (len(codes) or 1) if bulk_sql.supported() else QUERY_CHUNK_SIZE  # one query on PostgreSQL
    for chunk in _chunks(codes, size):
        found.update((obj.code, obj) for obj in model.objects.filter(code__in=chunk))
    return found
