"""Refuse whole-row writes of rows whose state only the services change."""

from __future__ import annotations


class WholeRowSaveRefused(ValueError):
    """``save()`` of a stored package, transfer or stock row without ``update_fields``."""


class UpdateFieldsRequired:
    """Model mixin: ``save()`` of a stored row must name its ``update_fields``.

    A whole-row ``save()`` writes back every column as the instance was read, so a form,
    script or task holding an old copy would undo whatever committed since (status, version,
    stock counts) without a log row or an event. Creating a row (``objects.create``, ``save()``
    of a new instance) is allowed; ``update()``, ``bulk_update`` and raw SQL are not affected.

    Raises:
        WholeRowSaveRefused: ``save()`` of a stored row without ``update_fields``.
    """

    def save(self, *args, update_fields=None, force_insert=False, **kwargs):
        if update_fields is None and not force_insert and (
                not self._state.adding or self.pk is not None):
            raise WholeRowSaveRefused(
                f"{type(self).__name__} {self.pk}: save() of a stored row must name update_fields "
                "(its state changes only through the services)")
        super().save(*args, update_fields=update_fields, force_insert=force_insert, **kwargs)
