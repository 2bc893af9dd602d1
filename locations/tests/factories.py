import factory

from locations.models import Sku, StockLevel, StockLocation


class StockLocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StockLocation

    code = factory.Sequence(lambda n: f"LOC{n:05d}")
    name = factory.LazyAttribute(lambda o: f"Location {o.code}")
    city = "Campinas"
    region = "SP"


class SkuFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sku

    code = factory.Sequence(lambda n: f"SKU{n:06d}")
    name = factory.LazyAttribute(lambda o: f"Product {o.code}")


class StockLevelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StockLevel

    location = factory.SubFactory(StockLocationFactory)
    sku = factory.SubFactory(SkuFactory)
    on_hand = 10
