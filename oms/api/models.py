"""Integrators' API tokens and the stored first responses of idempotent requests."""

from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    """An integrator's API key: one Django user, a scope of stock locations, read or read-write.

    Only a SHA-256 hash of the key is stored (``key_hash``); the key itself is shown once,
    when the token is created (admin or ``manage.py create_api_token``). ``key_prefix`` (the
    first 8 characters) identifies a token in lists and logs.

    Scope: ``all_locations`` or the ``locations`` set. Packages, transfers, stock and
    locations outside the scope answer 404, as if they did not exist. ``is_read_only``
    tokens may only read (a write answers 403). Revoke with ``is_active = False``: every
    request reads its token, so a change applies to the next one (``oms.api.tokens``).
    """

    name = models.CharField(max_length=100, help_text="Who uses the key, e.g. 'ERP sync'.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens",
        help_text="Actions run as this user (actor kind 'api').",
    )
    key_prefix = models.CharField(max_length=8, db_index=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    all_locations = models.BooleanField(
        default=False, help_text="Scope: every stock location (the list below is ignored)."
    )
    locations = models.ManyToManyField(
        "locations.StockLocation", blank=True, related_name="api_tokens",
        help_text="Scope: these stock locations only (unless 'all locations' is set).",
    )
    is_read_only = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"


class IdempotencyRecord(models.Model):
    """The first response to a POST sent with an ``Idempotency-Key`` header, for replay.

    One row per (token, key). ``request_hash`` fingerprints method, path and JSON body: the
    same key with another fingerprint answers 422. For single-transaction endpoints the row
    is inserted and completed in the transaction of the action itself, so it exists if and
    only if the action committed; concurrent duplicates wait on the unique index and then
    replay. Bulk endpoints (one transaction per package) complete the row at the end and
    keep per-package outcomes in ``IdempotencyItem`` rows, so an interrupted run resumes
    instead of acting twice; ``lease_until`` tells a retry whether a run is still going.
    """

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="idempotency_records")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    # The rendered JSON text, not a JSONField: a replay must send the very same bytes
    # (PostgreSQL's jsonb would reorder keys).
    response_body = models.TextField(blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["token", "key"], name="idempotency_token_key_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}]"


class IdempotencyItem(models.Model):
    """The outcome for one entry of a bulk request, written in the transaction that acted on it.

    ``position`` is the entry's index in the request body; the unique constraint means an
    entry acts at most once per idempotency record, even when two runs overlap.
    """

    record = models.ForeignKey(IdempotencyRecord, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    result = models.JSONField()

    class Meta:
        ordering = ["record_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["record", "position"], name="idempotency_item_position_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.record_id}#{self.position}"
