"""The base of every input serializer (actions and API): unknown fields and ``status`` refused."""

from __future__ import annotations

from rest_framework import serializers


class StrictInputSerializer(serializers.Serializer):
    """Base of every input serializer: unknown fields are refused (400), and a ``status``
    field is refused with a pointer to the actions (the status changes only through them)."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            errors = {}
            if "status" in data and "status" not in self.fields:
                errors["status"] = ["The status changes only through actions: "
                                    "POST /api/v1/…/{number}/actions/{action}/."]
            for name in sorted(set(data) - set(self.fields) - {"status"}):
                errors[str(name)] = ["Unknown field."]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)
