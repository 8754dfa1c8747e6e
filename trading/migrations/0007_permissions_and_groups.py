"""The console's permissions, and the two groups that hand them out: "Viewers" and "Operators".

The group contents are frozen here, as migrations must be; docs/SECURITY.md ("Permissions") describes them.
"""

from __future__ import annotations

from django.contrib.auth.management import create_permissions
from django.db import migrations

# Every table of the operations console: its view permission lets a Viewer browse it read-only.
CONSOLE_TABLES = (
    "enginestate",
    "strategyconfig",
    "engineevent",
    "signal",
    "order",
    "fill",
    "balancesnapshot",
    "pnldaily",
    "manualorderrequest",
    "candle",
    "backtestrun",
)
VIEWERS = ("view_dashboard", *(f"view_{table}" for table in CONSOLE_TABLES))
OPERATORS = (
    *VIEWERS,
    "control_engine",
    "place_manual_order",
    "cancel_order",
    "run_backtest",
    "export_data",
    "add_strategyconfig",
    "change_strategyconfig",
)
GROUPS = {"Viewers": VIEWERS, "Operators": OPERATORS}


def create_groups(apps, schema_editor):
    # Permissions are normally created after the whole `migrate` run; the groups need them now.
    app_config = apps.get_app_config("trading")
    models_module = getattr(app_config, "models_module", None)
    app_config.models_module = models_module or True  # a historical app has none, and would be skipped
    try:
        create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    finally:
        app_config.models_module = models_module
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _created = Group.objects.get_or_create(name=name)
        permissions = Permission.objects.filter(content_type__app_label="trading", codename__in=codenames)
        found = {permission.codename for permission in permissions}
        missing = set(codenames) - found
        if missing:
            raise RuntimeError(f"permissions missing for the {name} group: {', '.join(sorted(missing))}")
        group.permissions.add(*permissions)


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = (
        ("trading", "0006_decision_state"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    )

    operations = (
        migrations.AlterModelOptions(
            name="enginestate",
            options={
                "permissions": (
                    ("view_dashboard", "Can view the dashboard and the read-only API"),
                    ("control_engine", "Can start, stop and reset the engine"),
                    ("place_manual_order", "Can place manual orders"),
                    ("cancel_order", "Can cancel orders"),
                    ("run_backtest", "Can run backtests"),
                    ("export_data", "Can export data"),
                ),
                "verbose_name": "engine state",
                "verbose_name_plural": "engine state",
            },
        ),
        migrations.RunPython(create_groups, remove_groups),
    )
