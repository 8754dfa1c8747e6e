from __future__ import annotations

from django.db import migrations


def create_engine_state(apps, schema_editor):
    EngineState = apps.get_model("trading", "EngineState")
    EngineState.objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("trading", "0001_initial")]

    operations = [migrations.RunPython(create_engine_state, migrations.RunPython.noop)]
