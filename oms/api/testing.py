"""Test support for the REST API: a client authenticated with a fresh token."""

from __future__ import annotations

import itertools

from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from oms.api.models import ApiToken
from oms.api.tokens import api_token_create

_counter = itertools.count(1)


def api_client(*, locations=None, read_only: bool = False, user=None,
               key: str | None = None) -> tuple[APIClient, ApiToken]:
    """Return ``(client, token)``: an ``APIClient`` sending ``Authorization: Token <key>``.

    ``locations``: ``StockLocation`` objects the token is limited to (``None``: all).
    Creates the user ``integrator<n>`` unless ``user`` is given. With ``key`` given, reuses
    that existing key instead of creating a token (``token`` is then None).
    """
    if key is None:
        if user is None:
            user = get_user_model().objects.create_user(f"integrator{next(_counter)}")
        codes = None if locations is None else [location.code for location in locations]
        token, key = api_token_create(user=user, name="test", location_codes=codes,
                                      read_only=read_only)
    else:
        token = None
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    client.api_key = key
    return client, token
