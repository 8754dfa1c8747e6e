"""Orders, balance snapshots, daily PnL and the decision memory belong to an exchange account.

Existing rows are labelled by their mode: paper rows join the "paper" account; live rows join "live:legacy",
a ledger of their own, because the access key they were made with was never recorded (it may have been the
sandbox's or Upbit's). The engine never trades in the legacy account, so old live rows stay visible in the
admin and the exports but no longer count toward the position, the loss limit or the trailing peak of any
account the engine trades in. Written as literals: the migration must not change if the code's names do.
"""

from django.db import migrations, models

PAPER_ACCOUNT = "paper"
LEGACY_LIVE_ACCOUNT = "live:legacy"
LEDGER_MODELS = ("order", "balancesnapshot", "pnldaily", "decisionstate")


def label_existing_rows(apps, schema_editor):
    for name in LEDGER_MODELS:
        model = apps.get_model("trading", name)
        model.objects.filter(mode="paper").update(account=PAPER_ACCOUNT)
        model.objects.exclude(mode="paper").update(account=LEGACY_LIVE_ACCOUNT)


class Migration(migrations.Migration):
    dependencies = [
        ("trading", "0009_claim_generation"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="decisionstate",
            name="decision_state_unique_market_mode",
        ),
        migrations.RemoveConstraint(
            model_name="pnldaily",
            name="pnl_daily_unique_day_market_mode",
        ),
        migrations.RemoveIndex(
            model_name="balancesnapshot",
            name="snapshot_mode_ts",
        ),
        migrations.RemoveIndex(
            model_name="order",
            name="order_status_market_mode",
        ),
        migrations.AddField(
            model_name="balancesnapshot",
            name="account",
            field=models.CharField(
                default="paper", help_text="the exchange account: paper, or a live API host and key fingerprint", max_length=128
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="decisionstate",
            name="account",
            field=models.CharField(
                default="paper", help_text="the exchange account: paper, or a live API host and key fingerprint", max_length=128
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="order",
            name="account",
            field=models.CharField(
                default="paper", help_text="the exchange account: paper, or a live API host and key fingerprint", max_length=128
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="pnldaily",
            name="account",
            field=models.CharField(
                default="paper", help_text="the exchange account: paper, or a live API host and key fingerprint", max_length=128
            ),
            preserve_default=False,
        ),
        migrations.RunPython(label_existing_rows, migrations.RunPython.noop, elidable=False),
        migrations.AddIndex(
            model_name="balancesnapshot",
            index=models.Index(fields=["account", "-ts"], name="snapshot_account_ts"),
        ),
        migrations.AddIndex(
            model_name="order",
            index=models.Index(fields=["status", "market", "account"], name="order_status_market_account"),
        ),
        migrations.AddIndex(
            model_name="order",
            index=models.Index(fields=["account", "market", "-ts"], name="order_account_market_ts"),
        ),
        migrations.AddConstraint(
            model_name="decisionstate",
            constraint=models.UniqueConstraint(fields=("market", "account"), name="decision_state_unique_market_account"),
        ),
        migrations.AddConstraint(
            model_name="pnldaily",
            constraint=models.UniqueConstraint(fields=("date", "market", "account"), name="pnl_daily_unique_day_market_account"),
        ),
    ]
