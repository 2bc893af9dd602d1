"""Admin: every model is listed under a correctly spelled plural."""

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db


def test_admin_index_lists_webhook_deliveries(client):
    boss = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(boss)

    page = client.get("/admin/").content.decode()

    assert "Webhook deliveries" in page
    assert "deliverys" not in page.lower()


def test_no_model_has_an_automatic_ys_plural():
    wrong = [m.__name__ for m in apps.get_models()
             if str(m._meta.verbose_name_plural).endswith("ys")
             and str(m._meta.verbose_name).endswith("y")
             and str(m._meta.verbose_name)[-2:-1] not in "aeiou"]
    assert wrong == []
