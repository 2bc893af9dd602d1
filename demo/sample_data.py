"""A demo data set in the Olist format, made with a seeded random generator.

``olist_sample_write(directory)`` writes ``sellers.csv``, ``products.csv``,
``product_category_name_translation.csv`` and ``order_items.csv`` with the files, headers and
value formats of the Olist sample (quoted and unquoted ids, ``#N/A`` categories, zip prefixes
without their leading zero, São Paulo wall-clock ship-by times), for ``demo.olist_import`` to
read like a download of the real data. The same seed gives the same sellers, products and
orders whatever ``now`` is; only the ship-by times follow ``now``.

The distributions below were counted once from the Olist public sample ("Brazilian E-Commerce
Public Dataset by Olist", CC BY-NC-SA 4.0: 4,000 order item rows, 3,512 orders, 3,551
packages, 3,095 sellers, 3,501 products); the generator never reads that data. The ship-by
times are the exception: the sample's lie in 2016–2018, the generated ones around ``now``.

Plain Python, no Django: the benchmarks use it before Django is set up.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import random
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

SOURCE_TIME_ZONE = ZoneInfo("America/Sao_Paulo")  # Olist times are São Paulo wall clock
DEFAULT_ORDERS = 3000
DEFAULT_SEED = 1

# State -> (sellers in the sample, [(city, sellers, zip prefix p10, zip prefix p90)]): the
# largest cities of each state (8 for states with 100 sellers or more, else up to 3).
# A generated seller's city is drawn among the listed ones of its state.
SELLER_STATES: dict[str, tuple[int, list[tuple[str, int, int, int]]]] = {
    "SP": (1849, [("Sao Paulo", 694, 1314, 5734), ("Ribeirao Preto", 52, 14020, 14095),
                  ("Guarulhos", 50, 7024, 7192), ("Ibitinga", 49, 14940, 14940),
                  ("Santo Andre", 45, 9015, 9251), ("Campinas", 41, 13030, 13090),
                  ("Sao Jose Do Rio Preto", 33, 15015, 15081),
                  ("Sao Bernardo Do Campo", 32, 9690, 9850)]),
    "PR": (349, [("Curitiba", 124, 80060, 82510), ("Maringa", 40, 87014, 87065),
                 ("Londrina", 25, 86010, 86061), ("Cascavel", 14, 85801, 85813),
                 ("Arapongas", 10, 86702, 86707), ("Sao Jose Dos Pinhais", 9, 83005, 83070),
                 ("Apucarana", 8, 86800, 86804), ("Colombo", 8, 83402, 83409)]),
    "MG": (244, [("Belo Horizonte", 66, 30150, 31710), ("Contagem", 12, 32110, 32315),
                 ("Uberlandia", 12, 38400, 38412), ("Juiz De Fora", 9, 36010, 36071),
                 ("Divinopolis", 8, 35500, 35501), ("Claudio", 6, 35530, 35530),
                 ("Uba", 6, 36500, 36502), ("Santa Rita Do Sapucai", 6, 37540, 37540)]),
    "SC": (190, [("Joinville", 22, 89204, 89225), ("Blumenau", 20, 89023, 89069),
                 ("Florianopolis", 17, 88020, 88063), ("Brusque", 10, 88350, 88359),
                 ("Jaragua Do Sul", 9, 89251, 89258), ("Itajai", 8, 88301, 88316),
                 ("Palhoca", 7, 88132, 88137), ("Tubarao", 5, 88704, 88704)]),
    "RJ": (171, [("Rio De Janeiro", 93, 20061, 23050), ("Niteroi", 8, 24020, 24346),
                 ("Sao Goncalo", 7, 24440, 24725), ("Petropolis", 6, 25645, 25750),
                 ("Nova Iguacu", 5, 26020, 26255), ("Nova Friburgo", 5, 28605, 28630),
                 ("Barra Mansa", 4, 27321, 27345), ("Macae", 3, 27930, 27963)]),
    "RS": (129, [("Porto Alegre", 27, 90220, 91740), ("Caxias Do Sul", 16, 95012, 95088),
                 ("Canoas", 9, 92010, 92310), ("Novo Hamburgo", 6, 93336, 93510),
                 ("Lajeado", 5, 95900, 95910), ("Bento Goncalves", 3, 95705, 95705),
                 ("Carazinho", 3, 99500, 99500), ("Venancio Aires", 3, 95800, 95800)]),
    "GO": (40, [("Goiania", 23, 74110, 74565), ("Anapolis", 3, 75110, 75123),
                ("Morrinhos", 3, 75650, 75650)]),
    "DF": (30, [("Brasilia", 28, 70384, 72318), ("Gama", 1, 72460, 72460)]),
    "ES": (23, [("Cachoeiro De Itapemirim", 4, 29300, 29313), ("Vila Velha", 4, 29100, 29104),
                ("Vitoria", 4, 29010, 29056)]),
    "BA": (19, [("Salvador", 7, 40130, 41820), ("Lauro De Freitas", 2, 42738, 42738),
                ("Porto Seguro", 1, 45810, 45810)]),
    "CE": (13, [("Fortaleza", 7, 60025, 60710), ("Pacatuba", 1, 61800, 61800)]),
    "PE": (9, [("Recife", 5, 50751, 52011), ("Caruaru", 2, 55002, 55002)]),
    "PB": (6, [("Joao Pessoa", 2, 58030, 58030), ("Campina Grande", 1, 58400, 58400)]),
    "MS": (5, [("Campo Grande", 4, 79090, 79107), ("Coxim", 1, 79400, 79400)]),
    "RN": (5, [("Natal", 2, 59020, 59020), ("Parnamirim", 1, 59152, 59152)]),
    "MT": (4, [("Cuiaba", 2, 78020, 78020), ("Sinop", 1, 78552, 78552)]),
    "RO": (2, [("Porto Velho", 1, 76804, 76804), ("Ji Parana", 1, 76900, 76900)]),
    "SE": (2, [("Aracaju", 1, 49055, 49055)]),
    "AC": (1, [("Rio Branco", 1, 69900, 69900)]),
    "AM": (1, [("Manaus", 1, 69005, 69005)]),
    "MA": (1, [("Sao Luis", 1, 65072, 65072)]),
    "PI": (1, [("Teresina", 1, 64033, 64033)]),
}
SELLERS_PER_ORDER = 3095 / 3512  # sellers.csv lists every seller, most of them without an order
ACTIVE_SELLER_SHARE = 1012 / 3095  # sellers with at least one package in order_items.csv
# Packages per seller among the sellers with packages: {packages: sellers}. A seller's share of
# the generated packages is drawn from it, so a few sellers are busy and most have one or two.
PACKAGES_PER_SELLER = {
    1: 473, 2: 196, 3: 105, 4: 55, 5: 45, 6: 27, 7: 15, 8: 17, 9: 14, 10: 11, 11: 8, 12: 5,
    13: 3, 14: 4, 15: 5, 16: 3, 17: 2, 18: 2, 20: 1, 21: 1, 23: 1, 24: 2, 25: 1, 26: 1, 31: 1,
    32: 1, 33: 1, 34: 1, 36: 2, 40: 1, 44: 1, 46: 1, 47: 2, 48: 1, 62: 1, 71: 1, 81: 1,
}

# (English name as in the sample's products.csv, Portuguese name of the translation file,
# products, median weight g, median item price BRL), for the categories with two products or
# more. 52 of the 3,501 products have the category "#N/A" (median 450 g, 84.90 BRL).
CATEGORIES: list[tuple[str, str, int, int, float]] = [
    ("bed_bath_table", "cama_mesa_banho", 336, 1275, 79.90),
    ("sports_leisure", "esporte_lazer", 299, 925, 97.00),
    ("health_beauty", "beleza_saude", 266, 500, 79.94),
    ("computers_accessories", "informatica_acessorios", 232, 300, 84.89),
    ("furniture_decor", "moveis_decoracao", 226, 1300, 62.99),
    ("housewares", "utilidades_domesticas", 221, 1250, 61.25),
    ("watches_gifts", "relogios_presentes", 163, 300, 119.00),
    ("toys", "brinquedos", 160, 836, 79.90),
    ("telephony", "telefonia", 148, 225, 29.99),
    ("auto", "automotivo", 145, 1100, 100.94),
    ("perfumery", "perfumaria", 113, 400, 69.00),
    ("cool_stuff", "cool_stuff", 105, 1500, 124.49),
    ("baby", "bebes", 105, 750, 77.90),
    ("stationery", "papelaria", 89, 750, 84.00),
    ("electronics", "eletronicos", 85, 200, 24.30),
    ("garden_tools", "ferramentas_jardim", 84, 1550, 59.90),
    ("pet_shop", "pet_shop", 75, 650, 89.95),
    ("fashion_bags_accessories", "fashion_bolsas_e_acessorios", 67, 200, 49.90),
    ("office_furniture", "moveis_escritorio", 53, 10975, 146.94),
    ("consoles_games", "consoles_games", 37, 300, 69.99),
    ("construction_tools_construction", "construcao_ferramentas_construcao", 35, 667, 45.97),
    ("luggage_accessories", "malas_acessorios", 34, 1225, 99.90),
    ("musical_instruments", "instrumentos_musicais", 34, 1400, 89.44),
    ("home_appliances", "eletrodomesticos", 26, 450, 38.40),
    ("books_general_interest", "livros_interesse_geral", 24, 450, 37.00),
    ("small_appliances", "eletroportateis", 22, 1325, 48.45),
    ("furniture_living_room", "moveis_sala", 20, 7125, 106.97),
    ("home_confort", "casa_conforto", 18, 1988, 89.90),
    ("books_technical", "livros_tecnicos", 17, 750, 46.95),
    ("home_construction", "casa_construcao", 17, 1250, 134.88),
    ("kitchen_dining_laundry_garden_furniture", "moveis_cozinha_area_de_servico_jantar_e_jardim",
     12, 7350, 159.00),
    ("industry_commerce_and_business", "industria_comercio_e_negocios", 11, 4350, 78.00),
    ("construction_tools_safety", "construcao_ferramentas_seguranca", 11, 350, 113.62),
    ("costruction_tools_garden", "construcao_ferramentas_jardim", 10, 600, 47.89),
    ("food", "alimentos", 10, 725, 33.89),
    ("fixed_telephony", "telefonia_fixa", 10, 250, 929.45),
    ("fashion_shoes", "fashion_calcados", 10, 400, 29.90),
    ("home_appliances_2", "eletrodomesticos_2", 9, 4850, 182.95),
    ("agro_industry_and_commerce", "agro_industria_e_comercio", 9, 3000, 58.50),
    ("signaling_and_security", "sinalizacao_e_seguranca", 8, 450, 38.90),
    ("air_conditioning", "climatizacao", 8, 2302, 151.95),
    ("drinks", "bebidas", 7, 333, 51.49),
    ("construction_tools_lights", "construcao_ferramentas_iluminacao", 7, 1300, 82.50),
    ("audio", "audio", 7, 607, 147.30),
    ("food_drink", "alimentos_bebidas", 7, 1200, 51.00),
    ("computers", "pcs", 6, 7875, 1200.00),
    ("small_appliances_home_oven_and_coffee", "portateis_casa_forno_e_cafe", 6, 5125, 587.00),
    ("market_place", "market_place", 5, 1150, 56.45),
    ("christmas_supplies", "artigos_de_natal", 5, 550, 35.00),
    ("fashion_underwear_beach", "fashion_underwear_e_moda_praia", 4, 325, 54.90),
    ("fashio_female_clothing", "fashion_roupa_feminina", 3, 500, 49.99),
    ("party_supplies", "artigos_de_festas", 3, 450, 24.90),
    ("art", "artes", 3, 1200, 99.99),
    ("fashion_male_clothing", "fashion_roupa_masculina", 3, 850, 187.20),
    ("arts_and_craftmanship", "artes_e_artesanato", 2, 3600, 238.00),
    ("flowers", "flores", 2, 725, 49.90),
    ("dvds_blu_ray", "dvds_blu_ray", 2, 1175, 50.44),
    ("music", "musica", 2, 3075, 274.50),
    ("diapers_and_hygiene", "fraldas_higiene", 2, 425, 25.00),
]
UNKNOWN_CATEGORY = ("#N/A", 52, 450, 84.90)  # (value in products.csv, products, weight g, price)
WEIGHT_LOG_SD = 1.16  # spread of ln(weight / its category's median)
PRICE_LOG_SD = 0.87  # spread of ln(price / its category's median)
# Each side is its share of the cube root of the weight: side = k * weight_g ** (1/3) * e^N(0, sd);
# (k, sd, min cm, max cm).
DIMENSIONS = {"length": (2.84, 0.40, 7, 105), "height": (1.48, 0.67, 2, 105), "width": (2.22, 0.40, 6, 118)}
# Freight of one item row: 4.49 * weight_g ** 0.201 * e^N(0, 0.44) BRL (fitted on the rows).
FREIGHT_BASE, FREIGHT_WEIGHT_EXPONENT, FREIGHT_LOG_SD = 4.49, 0.201, 0.44
FREE_FREIGHT_SHARE = 12 / 4000
# Item prices end in .90 (35 %), .00 (29 %) or .99 (18 %); the rest keep their cents.
PRICE_ENDINGS = ((0.35, 0.90), (0.29, 0.00), (0.18, 0.99))

# Order shape: {count: orders or packages or lines}.
SELLERS_IN_ORDER = {1: 3475, 2: 35, 3: 2}  # packages per order
PRODUCTS_IN_PACKAGE = {1: 3474, 2: 69, 3: 6, 4: 2}  # package items (distinct products)
UNITS_OF_PRODUCT = {1: 3381, 2: 201, 3: 26, 4: 18, 5: 7, 6: 4, 8: 1}  # rows per package item
NEW_PRODUCT_SHARE = 3501 / 3638  # package items whose product no earlier package had
QUOTED_ID_SHARE = 0.5  # product and seller ids in order_items.csv come quoted or not

# Item rows per weekday (Monday first) and per hour of the ship-by time (São Paulo).
SHIP_BY_WEEKDAYS = (743, 731, 709, 1076, 646, 13, 82)
SHIP_BY_HOURS = (74, 54, 289, 241, 151, 45, 43, 43, 105, 184, 194, 212,
                 179, 209, 227, 206, 207, 229, 182, 229, 203, 184, 178, 132)
# Generated ship-by times lie within SHIP_BY_WINDOW_DAYS of ``now``, a share SHIP_BY_PAST_SHARE
# of them before it: about the packages the demo hands to the carrier (earliest ship-by
# first), and a few percent of the open ones, which show as late.
SHIP_BY_WINDOW_DAYS = 10
SHIP_BY_PAST_SHARE = 0.14

SELLERS_HEADER = ("seller_id", "seller_zip_code_prefix", "seler_city", "seller_state")
PRODUCTS_HEADER = ("product_id", "Category Name", "product_weight_g", "product_length_cm",
                   "product_height_cm", "product_width_cm")
TRANSLATION_HEADER = ("product_category_name", "product_category_name_english")
ORDER_ITEMS_HEADER = ("order_id", "order_item_id", "product_id", "seller_id", "shipping_limit_date",
                      "price", "freight_value")


@dataclass(frozen=True)
class SampleSummary:
    """What ``olist_sample_write`` wrote: row counts, the seed and the ship-by range."""

    directory: Path
    seed: int
    orders: int
    packages: int
    item_rows: int
    sellers: int
    products: int
    first_ship_by: dt.datetime
    last_ship_by: dt.datetime

    def line(self) -> str:
        return (f"Generated demo data in the Olist format (seed {self.seed}): {self.orders} orders, "
                f"{self.packages} packages, {self.item_rows} item rows, {self.sellers} sellers, "
                f"{self.products} products; ship-by {self.first_ship_by:%Y-%m-%d} to "
                f"{self.last_ship_by:%Y-%m-%d}")


def olist_sample_write(directory: str | Path, *, orders: int = DEFAULT_ORDERS, seed: int = DEFAULT_SEED,
                       now: dt.datetime | None = None) -> SampleSummary:
    """Write the four Olist CSV files for ``orders`` orders into ``directory`` (created if
    missing; files there are replaced). Ship-by times lie within ``SHIP_BY_WINDOW_DAYS`` of
    ``now`` (aware; default the current time). Raises ValueError when ``orders`` < 1."""
    if orders < 1:
        raise ValueError("orders must be at least 1")
    now = now or dt.datetime.now(dt.UTC)
    rng = random.Random(seed)
    dates = random.Random(f"ship-by:{seed}")  # its own stream: ``now`` changes no other value
    base = Path(directory)
    base.mkdir(parents=True, exist_ok=True)

    sellers = [_seller(rng) for _ in range(max(1, round(orders * SELLERS_PER_ORDER)))]
    active = rng.sample(sellers, max(1, round(len(sellers) * ACTIVE_SELLER_SHARE)))
    activity = rng.choices(list(PACKAGES_PER_SELLER), weights=list(PACKAGES_PER_SELLER.values()),
                           k=len(active))
    products: list[tuple] = []  # product rows, in order of first use
    uses: list[int] = []  # product index per package item so far (reuse follows popularity)
    rows: list[tuple] = []
    ship_bys = []
    packages = 0
    for _ in range(orders):
        order_id = _hex_id(rng)
        ship_by = _ship_by(dates, now)
        ship_bys.append(ship_by)
        shipping_limit = ship_by.astimezone(SOURCE_TIME_ZONE).strftime("%Y-%m-%d %H:%M:%S")
        item_id = 0
        order_sellers = _distinct(rng, active, activity, _draw(rng, SELLERS_IN_ORDER))
        packages += len(order_sellers)
        for seller in order_sellers:
            chosen: list[int] = []
            for _ in range(_draw(rng, PRODUCTS_IN_PACKAGE)):
                if not uses or rng.random() < NEW_PRODUCT_SHARE:
                    products.append(_product(rng))
                    index = len(products) - 1
                else:
                    index = rng.choice(uses)
                if index in chosen:
                    continue
                chosen.append(index)
                uses.append(index)
            for index in chosen:
                product = products[index]
                price = _price(rng, product[-1])
                for _ in range(_draw(rng, UNITS_OF_PRODUCT)):
                    item_id += 1
                    rows.append((f'"{order_id}"', item_id, _maybe_quoted(rng, product[0]),
                                 _maybe_quoted(rng, seller[0]), shipping_limit, f"{price:.2f}",
                                 f"{_freight(rng, product[2]):.2f}"))

    _write_csv(base / "sellers.csv", SELLERS_HEADER, sellers)
    _write_csv(base / "products.csv", PRODUCTS_HEADER, [product[:-1] for product in products])
    used = {product[1] for product in products}
    _write_csv(base / "product_category_name_translation.csv", TRANSLATION_HEADER,
               [(portuguese, english) for english, portuguese, *_ in CATEGORIES if english in used])
    _write_lines(base / "order_items.csv", ",".join(f'"{name}"' for name in ORDER_ITEMS_HEADER),
                 [",".join(str(value) for value in row) for row in rows])
    return SampleSummary(directory=base, seed=seed, orders=orders, packages=packages,
                         item_rows=len(rows), sellers=len(sellers), products=len(products),
                         first_ship_by=min(ship_bys), last_ship_by=max(ship_bys))


# --- one row at a time ---------------------------------------------------------------------------

def _hex_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def _draw(rng: random.Random, histogram: dict[int, int]) -> int:
    return rng.choices(list(histogram), weights=list(histogram.values()))[0]


def _distinct(rng: random.Random, population: list, weights: list[int], k: int) -> list:
    """``k`` different members of ``population`` drawn by ``weights`` (fewer if it is smaller)."""
    chosen: list = []
    while len(chosen) < min(k, len(population)):
        member = rng.choices(population, weights=weights)[0]
        if member not in chosen:
            chosen.append(member)
    return chosen


def _seller(rng: random.Random) -> tuple[str, int, str, str]:
    states = list(SELLER_STATES)
    state = rng.choices(states, weights=[SELLER_STATES[s][0] for s in states])[0]
    cities = SELLER_STATES[state][1]
    city, _, zip_low, zip_high = rng.choices(cities, weights=[c[1] for c in cities])[0]
    return (_hex_id(rng), rng.randint(zip_low, zip_high), city, state)


def _product(rng: random.Random) -> tuple:
    """``(product_id, category, weight g, length, height, width cm, median price)``; the category
    as products.csv writes it (English name, or "#N/A")."""
    names = [c[0] for c in CATEGORIES] + [UNKNOWN_CATEGORY[0]]
    weights = [c[2] for c in CATEGORIES] + [UNKNOWN_CATEGORY[1]]
    category = rng.choices(names, weights=weights)[0]
    if category == UNKNOWN_CATEGORY[0]:
        median_weight, median_price = UNKNOWN_CATEGORY[2], UNKNOWN_CATEGORY[3]
    else:
        _, _, _, median_weight, median_price = CATEGORIES[names.index(category)]
    weight = max(50, min(30_000, int(round(median_weight * math.exp(rng.gauss(0, WEIGHT_LOG_SD)), -1))))
    sides = [max(low, min(high, round(k * weight ** (1 / 3) * math.exp(rng.gauss(0, sd)))))
             for k, sd, low, high in DIMENSIONS.values()]
    return (_hex_id(rng), category, weight, *sides, median_price)


def _price(rng: random.Random, median: float) -> float:
    raw = max(3.0, median * math.exp(rng.gauss(0, PRICE_LOG_SD)))
    pick = rng.random()
    for share, cents in PRICE_ENDINGS:
        if pick < share:
            return math.floor(raw) + cents
        pick -= share
    return round(raw, 2)


def _freight(rng: random.Random, weight_g: int) -> float:
    if rng.random() < FREE_FREIGHT_SHARE:
        return 0.0
    noise = math.exp(rng.gauss(0, FREIGHT_LOG_SD))
    return round(FREIGHT_BASE * weight_g ** FREIGHT_WEIGHT_EXPONENT * noise, 2)


def _ship_by(rng: random.Random, now: dt.datetime) -> dt.datetime:
    """A ship-by time before ``now`` (with probability ``SHIP_BY_PAST_SHARE``) or after it,
    within ``SHIP_BY_WINDOW_DAYS``, on a weekday and at an hour drawn as in the sample."""
    past = rng.random() < SHIP_BY_PAST_SHARE
    local_now = now.astimezone(SOURCE_TIME_ZONE)
    busiest = max(SHIP_BY_WEEKDAYS)
    while True:
        days = rng.randint(0, SHIP_BY_WINDOW_DAYS)
        day = local_now.date() + dt.timedelta(days=-days if past else days)
        if rng.random() * busiest >= SHIP_BY_WEEKDAYS[day.weekday()]:
            continue
        hour = rng.choices(range(24), weights=SHIP_BY_HOURS)[0]
        moment = dt.datetime.combine(day, dt.time(hour, rng.randrange(60), rng.randrange(60)),
                                     tzinfo=SOURCE_TIME_ZONE)
        if (moment < now) == past and abs(moment - now) <= dt.timedelta(days=SHIP_BY_WINDOW_DAYS):
            return moment.astimezone(dt.UTC)


def _maybe_quoted(rng: random.Random, value: str) -> str:
    return f'"{value}"' if rng.random() < QUOTED_ID_SHARE else value


def _write_csv(path: Path, header: tuple[str, ...], rows: list[tuple]) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _write_lines(path: Path, header: str, lines: list[str]) -> None:
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
