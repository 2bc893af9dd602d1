"""The open-package counter of each stock location, kept by database triggers
(``packages.capacity``), and its first count."""

from django.db import migrations


def forwards(apps, schema_editor):
    from packages import capacity

    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # no package write between the count and the triggers
            cursor.execute(f"LOCK TABLE {capacity.PACKAGE_TABLE} IN SHARE ROW EXCLUSIVE MODE")
    capacity.create_triggers(connection)
    capacity.recount(connection)


def backwards(apps, schema_editor):
    from packages import capacity

    capacity.drop_triggers(schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ("packages", "0005_planning_rules"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
