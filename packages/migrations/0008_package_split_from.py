import importlib

import django.db.models.deletion
from django.db import migrations, models

# CREATE INDEX CONCURRENTLY on PostgreSQL, a plain CREATE INDEX elsewhere (defined in 0004).
AddIndexConcurrentlyOnPostgres = importlib.import_module(
    "packages.migrations.0004_package_open_work_idx").AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):

    atomic = False  # the index is built concurrently: writes go on meanwhile

    dependencies = [
        ('locations', '0004_location_capacity'),
        ('packages', '0007_package_holds'),
    ]

    operations = [
        migrations.AddField(
            model_name='package',
            name='split_from',
            field=models.ForeignKey(blank=True, db_index=False, help_text='The package this one was split off from: the canceled original of a split, or the package that kept the found items (missing items reported).', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='split_into', to='packages.package'),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name='package',
            index=models.Index(condition=models.Q(('split_from__isnull', False)), fields=['split_from'], name='package_split_from_idx'),
        ),
    ]
