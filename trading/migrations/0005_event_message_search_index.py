"""PostgreSQL only: a trigram index so the admin's search of event messages (`icontains`, which Django
writes as UPPER(message) LIKE UPPER('%…%')) does not read every row. SQLite has no such index; its
search stays a scan. If the pg_trgm extension cannot be created (no privilege), search still works,
only slower."""

from __future__ import annotations

from django.db import DatabaseError, migrations, transaction

INDEX = "event_message_trgm"


def create_index(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        try:
            with transaction.atomic(using=connection.alias):
                cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except DatabaseError:
            return
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON trading_engineevent USING gin ((UPPER(message::text)) gin_trgm_ops)"
        )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("trading", "0004_order_open_lookup_index")]

    operations = [migrations.RunPython(create_index, drop_index)]
