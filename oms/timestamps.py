"""``TimeStampedModel``, the abstract base of every app's models that keep creation and change times."""

from django.db import models


class TimeStampedModel(models.Model):
    """Abstract base adding ``created_at`` / ``updated_at`` (timezone-aware UTC)."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
