"""The child process of `replay`: migrate its own fresh database, replay, leave a JSON report.

Run as `python -m trading.replay.worker SPEC REPORT [--out DIR] [--compare]` with DATABASE_URL pointing
at a new SQLite file (`trading.replay.services.replay_in_own_database` does this). Exit status: 0 done,
1 --compare found a difference, 2 the replay could not run (the message is in the report).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trading.replay.worker")
    parser.add_argument("spec")
    parser.add_argument("report")
    parser.add_argument("--out", default=None)
    parser.add_argument("--compare", action="store_true")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autocoin.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from trading.replay import services
    from trading.replay.runner import ReplayError

    # The engine logs every event; a replay makes tens of thousands. Warnings and errors still show.
    logging.getLogger("autocoin").setLevel(logging.WARNING)
    report_path = Path(args.report)
    try:
        call_command("migrate", verbosity=0, interactive=False)
        config = services.config_read(Path(args.spec))
        report = services.replay_execute(config, compare=args.compare, out_dir=Path(args.out) if args.out else None)
    except ReplayError as error:
        report_path.write_text(json.dumps(services.ReplayReport(lines=[], trades_csv="", error=str(error)).as_dict()))
        return services.ERROR_EXIT
    report_path.write_text(json.dumps(report.as_dict()), encoding="utf-8")
    return services.DIFFERENCE_EXIT if report.identical is False else 0


if __name__ == "__main__":
    sys.exit(main())
