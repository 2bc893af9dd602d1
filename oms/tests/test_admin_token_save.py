"""Admin: saving an API token writes only what its form edits, never the key as read."""

import pytest
from django.contrib.admin import ModelAdmin
from django.contrib.auth import get_user_model

from oms.api.models import ApiToken
from oms.api.tokens import api_token_assign_new_key, api_token_create, api_token_hash

pytestmark = pytest.mark.django_db


def test_a_token_form_saved_across_a_new_key_keeps_the_new_key(client, monkeypatch):
    boss = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(boss)
    token, old_key = api_token_create(user=boss, name="ERP sync")
    url = f"/admin/oms/apitoken/{token.pk}/change/"
    assert client.get(url).status_code == 200
    new_keys = []

    def get_object(self, request, object_id, from_field=None):
        obj = original(self, request, object_id, from_field)
        if request.method == "POST" and not new_keys:  # a "new key" lands after the read
            new_keys.append(api_token_assign_new_key(ApiToken.objects.get(pk=token.pk)))
        return obj

    original = ModelAdmin.get_object
    monkeypatch.setattr(ModelAdmin, "get_object", get_object)

    response = client.post(url, {"name": "ERP sync", "user": boss.pk, "all_locations": "on",
                                 "is_read_only": "on", "is_active": "on", "_save": "Save"})

    assert response.status_code == 302
    token.refresh_from_db()
    assert token.is_read_only  # the edit is saved
    assert token.key_hash == api_token_hash(new_keys[0]) != api_token_hash(old_key)
