"""`python manage.py runsandbox`: serve the Upbit-compatible sandbox exchange on 127.0.0.1.

Point autocoin at it with UPBIT_API_BASE=http://127.0.0.1:8765 to run the live code path with no
money at risk. Every flag is described in docs/SANDBOX.md.
"""

from __future__ import annotations

import os
import signal
import threading
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from exchange.sandbox.faults import FaultSpecError, fault_from_flag
from exchange.sandbox.prices import CsvSourceError
from exchange.sandbox.server import SANDBOX_ACCESS_KEY, SandboxServer


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text.replace(",", "").replace("_", ""))
    except InvalidOperation:
        raise CommandError(f"--krw {text!r} is not a number; use an amount such as 1000000") from None
    if not value.is_finite() or value < 0:
        raise CommandError(f"--krw {text!r} must be a number of at least 0")
    return value


class Command(BaseCommand):
    help = "Serve an Upbit-compatible sandbox exchange on 127.0.0.1 (no real money; see docs/SANDBOX.md)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
        parser.add_argument(
            "--market",
            action="append",
            dest="markets",
            help="market to serve, repeatable (default: TRADING_MARKET, i.e. KRW-BTC)",
        )
        parser.add_argument("--prices", default="synthetic", help="'synthetic' (a seeded random walk) or a candle CSV to replay")
        parser.add_argument("--history", type=int, default=None, help="CSV replay: file candles already past at start")
        parser.add_argument("--seed", type=int, default=1, help="random seed of the synthetic market (default 1)")
        parser.add_argument("--krw", default="1000000", help="starting KRW balance (default 1000000)")
        parser.add_argument("--access-key", default=None, help="key to accept (default UPBIT_ACCESS_KEY or the sandbox pair)")
        parser.add_argument("--secret-key", default=None, help="secret (default UPBIT_SECRET_KEY or the sandbox pair)")
        parser.add_argument("--fail", action="append", default=[], metavar="[METHOD:]PATH:STATUS[:NAME[:COUNT]]")
        parser.add_argument("--stall", action="append", default=[], metavar="[METHOD:]PATH:SECONDS[:COUNT]")
        parser.add_argument("--drop", action="append", default=[], metavar="[METHOD:]PATH[:COUNT]")
        parser.add_argument("--reject-keys", action="store_true", help="answer 401 invalid_access_key until cleared")
        parser.add_argument("--no-rate-limit", action="store_true", help="turn Upbit's per-second quotas off")
        parser.add_argument("--ban-after", type=int, default=None, help="418 after more than N 429s in a minute (off by default)")
        parser.add_argument("--ban-seconds", type=float, default=60.0, help="length of a 418 ban (default 60)")
        parser.add_argument(
            "--control-token",
            default=os.environ.get("SANDBOX_CONTROL_TOKEN") or None,
            help="require this token in the X-Sandbox-Token header of control calls (default: SANDBOX_CONTROL_TOKEN, or none)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if (options["access_key"] is None) != (options["secret_key"] is None):
            raise CommandError("--access-key and --secret-key go together; give both or neither")
        if not 0 <= options["port"] <= 65535:
            raise CommandError(f"--port {options['port']} is not a port; use 0 to 65535")
        prices = options["prices"]
        if prices != "synthetic" and not Path(prices).is_file():
            raise CommandError(f"--prices {prices!r} is neither 'synthetic' nor a readable CSV file")
        try:
            faults = [fault_from_flag("fail", spec) for spec in options["fail"]]
            faults += [fault_from_flag("stall", spec) for spec in options["stall"]]
            faults += [fault_from_flag("drop", spec) for spec in options["drop"]]
        except FaultSpecError as error:
            raise CommandError(str(error)) from None
        markets = [m.upper() for m in (options["markets"] or [settings.TRADING_MARKET])]
        try:
            server = SandboxServer(
                host=options["host"],
                port=options["port"],
                markets=markets,
                prices=prices,
                seed=options["seed"],
                krw=_decimal(options["krw"]),
                access_key=options["access_key"],
                secret_key=options["secret_key"],
                rate_limit=not options["no_rate_limit"],
                ban_after=options["ban_after"],
                ban_seconds=options["ban_seconds"],
                csv_history=options["history"],
                faults=faults,
                reject_keys=options["reject_keys"],
                control_token=options["control_token"],
            )
            server.start()
        except (ValueError, CsvSourceError) as error:
            raise CommandError(str(error)) from None
        except OSError as error:
            raise CommandError(f"cannot listen on {options['host']}:{options['port']}: {error.strerror}") from None

        keys = "the sandbox key pair (see docs/SANDBOX.md)" if server.access_key == SANDBOX_ACCESS_KEY else "the keys given"
        self.stdout.write(
            f"autocoin sandbox exchange on {server.base_url} (markets {', '.join(markets)}, prices {prices}, "
            f"{options['krw']} KRW, accepting {keys}), WebSocket on {server.ws_url}. "
            f"Set UPBIT_API_BASE={server.base_url}. Ctrl-C stops it."
        )
        self.stdout.flush()
        stop = threading.Event()

        def _stop(signum: int, frame: object) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        try:
            while not stop.wait(0.5):
                pass
        finally:
            server.stop()
            self.stdout.write("autocoin sandbox exchange stopped.")
