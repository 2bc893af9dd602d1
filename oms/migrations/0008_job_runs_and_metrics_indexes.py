"""Run records of recurring jobs (beat heartbeat, re-check runs); indexes read by /metrics:
webhook attempts by start time, deliveries given up."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('oms', '0007_webhook_backlog'),
    ]

    operations = [
        migrations.CreateModel(
            name='JobRun',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('job', models.CharField(max_length=100)),
                ('key', models.CharField(blank=True, max_length=100)),
                ('runs', models.PositiveBigIntegerField(default=0)),
                ('items', models.PositiveBigIntegerField(default=0)),
                ('last_run_at', models.DateTimeField()),
            ],
            options={
                'ordering': ['job', 'key'],
            },
        ),
        migrations.AddIndex(
            model_name='webhookattempt',
            index=models.Index(fields=['started_at'], name='webhook_attempt_started_idx'),
        ),
        migrations.AddIndex(
            model_name='webhookdelivery',
            index=models.Index(condition=models.Q(('status', 'failed')), fields=['id'], name='webhook_delivery_failed_idx'),
        ),
        migrations.AddConstraint(
            model_name='jobrun',
            constraint=models.UniqueConstraint(fields=('job', 'key'), name='job_run_job_key_uniq'),
        ),
    ]
