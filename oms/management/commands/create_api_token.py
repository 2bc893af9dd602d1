"""``manage.py create_api_token <username> [--name N] [--locations CODE,CODE] [--read-only]``."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from oms.actions.errors import InvalidInput
from oms.api.tokens import api_token_create


class Command(BaseCommand):
    """Create an API token and print its key on stdout (details on stderr)."""

    help = ("Create an API token for an existing user and print its key (shown only once). "
            "Without --locations the token sees every stock location.")

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="What the token is for (default: the username).")
        parser.add_argument("--locations", default=None,
                            help="Comma-separated stock location codes the token is limited to.")
        parser.add_argument("--read-only", action="store_true", help="The token may only read.")

    def handle(self, *args, username, name, locations, read_only, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}; create it first (e.g. manage.py createsuperuser).")
        codes = None if locations is None else locations.split(",")
        try:
            token, key = api_token_create(user=user, name=name or username, location_codes=codes,
                                          read_only=read_only)
        except InvalidInput as exc:
            raise CommandError(exc.detail) from None
        scope = "all locations" if token.all_locations else ", ".join(
            sorted(token.locations.values_list("code", flat=True)))
        mode = "read-only" if token.is_read_only else "read-write"
        self.stderr.write(f"Token {token.name!r} for {username} ({mode}; {scope}). Key, shown once:")
        self.stdout.write(key)
