import importlib

from django.db import migrations, models

# CREATE INDEX CONCURRENTLY on PostgreSQL, a plain CREATE INDEX elsewhere (defined in 0004).
AddIndexConcurrentlyOnPostgres = importlib.import_module(
    "packages.migrations.0004_package_open_work_idx").AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):

    atomic = False  # the index is built concurrently: writes go on meanwhile

    dependencies = [
        ('packages', '0006_open_package_counter'),
    ]

    operations = [
        migrations.AddField(
            model_name='package',
            name='block_reason',
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.AddField(
            model_name='package',
            name='blocked_at',
            field=models.DateTimeField(blank=True, help_text='Blocked since (null: not blocked).', null=True),
        ),
        migrations.AddField(
            model_name='package',
            name='blocked_by',
            field=models.CharField(blank=True, help_text='Who blocked it (the actor).', max_length=150),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name='package',
            index=models.Index(condition=models.Q(('blocked_at__isnull', False)), fields=['location'],
                               name='package_blocked_idx'),
        ),
    ]
