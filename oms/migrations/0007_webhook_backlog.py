"""Webhook backlog: failing_since on subscriptions; deliveries carry their event's object
(ordering per object) and are indexed by subscription while pending."""

from django.db import migrations, models
from django.db.models import OuterRef, Q, Subquery


def copy_aggregate(apps, schema_editor):
    WebhookDelivery = apps.get_model("oms", "WebhookDelivery")
    OutboxEvent = apps.get_model("oms", "OutboxEvent")
    event = OutboxEvent.objects.filter(pk=OuterRef("event_id"))
    WebhookDelivery.objects.update(
        aggregate_type=Subquery(event.values("aggregate_type")[:1]),
        aggregate_id=Subquery(event.values("aggregate_id")[:1]),
    )


class Migration(migrations.Migration):

    dependencies = [
        ("oms", "0006_outbox_relay_claim_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhooksubscription",
            name="failing_since",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="aggregate_type",
            field=models.CharField(default="", max_length=50),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="aggregate_id",
            field=models.BigIntegerField(default=0),
            preserve_default=False,
        ),
        migrations.RunPython(copy_aggregate, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(condition=Q(status="pending"),
                               fields=["subscription", "aggregate_type", "aggregate_id", "event"],
                               name="webhook_delivery_queue_idx"),
        ),
    ]
