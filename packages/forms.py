"""Input forms for package actions that take parameters (admin now, operator screens later)."""

from __future__ import annotations

import re

from django import forms

from locations.models import StockLocation
from packages.models import DenialReason


class ShipForm(forms.Form):
    carrier = forms.CharField(max_length=64)
    tracking_number = forms.CharField(max_length=64)


class RefuseForm(forms.Form):
    denial_reason_id = forms.ModelChoiceField(
        queryset=DenialReason.objects.filter(is_active=True), label="Denial reason"
    )

    def service_kwargs(self) -> dict:
        return {"denial_reason_id": self.cleaned_data["denial_reason_id"].pk}


class ReassignLocationForm(forms.Form):
    location_code = forms.CharField(max_length=64, label="New stock location code")

    def clean_location_code(self):
        code = self.cleaned_data["location_code"].strip()
        if not StockLocation.objects.filter(code=code, is_active=True, can_package=True).exists():
            raise forms.ValidationError("No active packaging location with this code.")
        return code


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=255, required=False)


class ReportItemsForm(forms.Form):
    """Items and quantities reported missing or defective, one ``SKU quantity`` per line."""

    items = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One line per SKU: the SKU code, a space, the number of units (e.g. 'ABC123 1').",
    )

    def clean_items(self):
        result: dict[str, int] = {}
        for number, line in enumerate(self.cleaned_data["items"].splitlines(), start=1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2 or not re.fullmatch(r"[0-9]+", parts[1]):
                raise forms.ValidationError(
                    f"Line {number}: expected 'SKU quantity' with a whole number, got {line!r}.")
            if int(parts[1]) < 1:
                raise forms.ValidationError(f"Line {number}: the quantity must be at least 1.")
            result[parts[0]] = result.get(parts[0], 0) + int(parts[1])
        if not result:
            raise forms.ValidationError("Name at least one SKU.")
        return result


ACTION_FORMS: dict[str, type[forms.Form]] = {
    "ship": ShipForm,
    "refuse": RefuseForm,
    "reassign_location": ReassignLocationForm,
    "report_missing": ReportItemsForm,
    "report_defective": ReportItemsForm,
    "cancel": ReasonForm,
    "request_cancellation": ReasonForm,
}


def form_service_kwargs(form: forms.Form) -> dict:
    """Return the keyword arguments the action service takes from a valid ``form``."""
    if hasattr(form, "service_kwargs"):
        return form.service_kwargs()
    return dict(form.cleaned_data)


class ReportItemQuantitiesForm(forms.Form):
    """Product Not Found / Defective Product on the operator screen: one quantity field per
    item of ``package`` (0 to the item's quantity); at least one must be above 0.

    Reads ``package.items`` with their SKUs (prefetched by ``packages.selectors.package_get``).
    """

    def __init__(self, *args, package, **kwargs):
        super().__init__(*args, **kwargs)
        self.sku_by_field: dict[str, str] = {}
        for item in package.items.all():
            name = f"qty_{item.pk}"
            self.fields[name] = forms.IntegerField(
                min_value=0, max_value=item.quantity, initial=0, required=False,
                label=f"{item.sku.code}" + (f" — {item.sku.name}" if item.sku.name else ""),
                help_text=f"of {item.quantity}",
            )
            self.sku_by_field[name] = item.sku.code

    def clean(self):
        cleaned = super().clean()
        if not any(cleaned.get(name) for name in self.sku_by_field):
            raise forms.ValidationError("Choose at least one item and how many units.")
        return cleaned

    def service_kwargs(self) -> dict:
        """Return ``{"items": {"SKU": quantity}}`` for the items with a quantity above 0."""
        return {"items": {sku: self.cleaned_data[name] for name, sku in self.sku_by_field.items()
                          if self.cleaned_data.get(name)}}


# The operator screens use the per-item form for the two report actions.
OPERATOR_ACTION_FORMS: dict[str, type[forms.Form]] = {
    **ACTION_FORMS,
    "report_missing": ReportItemQuantitiesForm,
    "report_defective": ReportItemQuantitiesForm,
}
