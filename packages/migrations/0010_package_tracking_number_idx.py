import importlib

from django.db import migrations, models

# CREATE INDEX CONCURRENTLY on PostgreSQL, a plain CREATE INDEX elsewhere (defined in 0004).
AddIndexConcurrentlyOnPostgres = importlib.import_module(
    "packages.migrations.0004_package_open_work_idx").AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):

    atomic = False  # the index is built concurrently: writes go on meanwhile

    dependencies = [
        ('packages', '0009_package_ageing_idx'),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name='package',
            index=models.Index(condition=models.Q(('tracking_number', ''), _negated=True), fields=['tracking_number'], name='package_tracking_number_idx'),
        ),
    ]
