"""The operator's and the admin's form of an action, derived from its input serializer.

Each serializer field becomes a form field named like ``run``'s keyword argument (the
field's ``source``): char, URL, integer, date and boolean fields map to their Django twins;
a field with ``form_choices()`` becomes a choice of those rows (the form gives back the
chosen row's pk); a field with ``form_fields(obj)`` / ``form_value(cleaned_data)`` builds
its own (e.g. a quantity per item of a package).
"""

from __future__ import annotations

from django import forms
from django.utils.functional import lazy
from django.utils.translation import gettext
from rest_framework import serializers

from oms.actions.declaration import Action

# gettext of a text known only at run time (the catalogue lists it: e.g. packages.actions.FORM_TEXTS).
gettext_lazy_text = lazy(gettext, str)


class ActionForm(forms.Form):
    """A form of an action; ``inputs()`` gives ``run``'s keyword arguments once valid."""

    composite: dict = {}

    def clean(self):
        cleaned = super().clean()
        self.values = {}
        for key, (names, to_value) in self.composite.items():
            if any(name in self.errors for name in names):
                continue
            self.values[key] = to_value(cleaned)  # may raise forms.ValidationError
        return cleaned

    def inputs(self) -> dict:
        data = {name: value for name, value in self.cleaned_data.items()
                if not any(name in names for names, _ in self.composite.values())}
        data.update(self.values)
        for name, value in list(data.items()):
            if hasattr(value, "pk"):
                data[name] = value.pk
        return data


def _form_field(field: serializers.Field) -> forms.Field:
    # The serializer's texts are the API's (English); the form shows them translated.
    common = {"required": field.required,
              "label": gettext_lazy_text(field.label) if field.label else None,
              "help_text": gettext_lazy_text(field.help_text) if field.help_text else None}
    if hasattr(field, "form_choices"):
        return forms.ModelChoiceField(queryset=field.form_choices(), **common)
    if isinstance(field, serializers.URLField):
        return forms.URLField(max_length=field.max_length, **common)
    if isinstance(field, serializers.CharField):
        return forms.CharField(max_length=field.max_length, **common)
    if isinstance(field, serializers.IntegerField):
        return forms.IntegerField(min_value=field.min_value, max_value=field.max_value, **common)
    if isinstance(field, serializers.DateField):
        return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"), **common)
    if isinstance(field, serializers.BooleanField):
        return forms.BooleanField(**{**common, "required": False})  # unticked: false
    raise TypeError(f"no form field for {type(field).__name__}")


def action_form_class(action: Action, obj=None) -> type[ActionForm] | None:
    """The form class of ``action`` for ``obj`` (None: a form for many rows, e.g. the
    admin's); None when the action takes no input."""
    fields, composite = {}, {}
    for name, field in action.input().fields.items():
        key = field.source if field.source not in (None, "*") else name
        if hasattr(field, "form_fields"):
            own = field.form_fields(obj)
            fields.update(own)
            composite[key] = (set(own), field.form_value)
        else:
            fields[key] = _form_field(field)
    if not fields:
        return None
    camel = "".join(part.title() for part in action.name.split("_"))
    return type(f"{camel}Form", (ActionForm,), {**fields, "composite": composite})


def input_labels(action: Action, form: forms.Form | None) -> dict[str, str]:
    """``{name: label}`` of ``form`` (``action``'s, as derived here): each field under its form
    name (the input's ``source``) and under the input's own name, which is what an
    ``InvalidInput``'s ``field`` names. Empty without a form."""
    if form is None:
        return {}
    labels = {name: field.label for name, field in form.fields.items() if field.label}
    for name, field in action.input().fields.items():
        if field.source in labels:
            labels.setdefault(name, labels[field.source])
    return labels
