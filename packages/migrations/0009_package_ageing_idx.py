import importlib

from django.db import migrations, models

# CREATE INDEX CONCURRENTLY on PostgreSQL, a plain CREATE INDEX elsewhere (defined in 0004).
AddIndexConcurrentlyOnPostgres = importlib.import_module(
    "packages.migrations.0004_package_open_work_idx").AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):

    atomic = False  # the index is built concurrently: writes go on meanwhile

    dependencies = [
        ('packages', '0008_package_split_from'),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name='package',
            index=models.Index(condition=models.Q(('status__in', [100, 200, 300, 400, 500, 550, 560, 850, 920, 930])),
                               fields=['location', 'status', 'status_changed_at', 'ship_by'],
                               name='package_ageing_idx'),
        ),
    ]
