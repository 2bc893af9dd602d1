import factory

from packages.models import Brand, DenialReason


class BrandFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Brand
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"brand{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


class DenialReasonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DenialReason

    title = factory.Sequence(lambda n: f"No capacity {n}")
