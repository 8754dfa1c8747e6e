"""The chaos soak: the real engine in live mode against the sandbox, with faults at random, then an audit.

    .venv/bin/python bench/soak.py --minutes 2                                   # SQLite in a temporary directory
    .venv/bin/python bench/soak.py --minutes 2 --db postgres://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/soak.py --minutes 10 --seed 7 --faults manual,drop,kill     # repeat a run's seed, some faults only

Starts `manage.py runsandbox`, `manage.py runserver` and `manage.py runengine` (live mode, one-second
cycles, a fast moving-average strategy) on a fresh database (a SQLite file in a temporary directory, or a new
PostgreSQL database on the server of `--db`/DATABASE_URL, dropped at the end), and for `--minutes` does
one thing every few seconds, chosen at random among the kinds of `--faults` (default: all):

    manual     a manual order over the HTTP API (buy, sell or close)
    stopstart  Stop, then Start, over the HTTP API
    drop       the sandbox places the next order, then drops the connection unanswered
    stall      the sandbox holds the next order request past the client's read timeout (before or after placing it)
    5xx        500/502/503 on the next calls of an order, order-lookup, accounts or ticker path
    429        a burst of 429s on the order or lookup path
    kill       SIGKILL the engine and start a new one
    freeze     SIGSTOP the engine past its claim, start a second engine (it takes over), SIGCONT the first
    dbkill     PostgreSQL: terminate the soak database's backends; SQLite: hold the write lock for seconds

The price is moved every few seconds so the strategy trades too. Then the faults are cleared, the engine
settles (no order left NEW or UNKNOWN), is stopped, and the books are audited against the exchange by
identifier and trade id (bench/soak_audit.py). It prints what it did and each count that must be 0, and
exits 1 if any is not. Every child runs in its own process group and is killed on the way out.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import secrets
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.soak_processes import Child, SoakError, free_port, wait_for  # noqa: E402

FAULT_KINDS = ("manual", "stopstart", "drop", "stall", "5xx", "429", "kill", "freeze", "dbkill")
WEIGHTS = {"manual": 4, "stopstart": 1, "drop": 2, "stall": 2, "5xx": 1, "429": 1, "kill": 1, "freeze": 1, "dbkill": 1}
"""An order whose answer was ambiguous and that never reached the exchange blocks its market for a minute
(docs/ENGINE.md), so the faults that cause one (5xx and 429 on the order path) are drawn less often."""
MARKET = "KRW-BTC"
READ_TIMEOUT_SEC = 2
STALE_AFTER_SEC = 3
SETTLE_SEC = 100
"""Longest wait for the books to settle after the faults stop: an order whose answer was lost is declared
never placed only after 60 s and three lookups."""
API_USER = "soak"


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.kinds = args.faults
        self.tmp = Path(tempfile.mkdtemp(prefix="autocoin-soak-"))
        self.children: list[Child] = []
        self.engines: list[Child] = []
        self.done: Counter[str] = Counter()
        self.events: Counter[str] = Counter()
        self.engine_deaths: list[str] = []
        self.control_token = secrets.token_hex(16)
        self.api_token = secrets.token_hex(24)
        self.http = requests.Session()
        self.http.trust_env = False
        self.pg_admin_url = ""
        self.pg_name = ""
        self.sqlite_path: Path | None = None
        self.env: dict[str, str] = {}
        self.sandbox_url = ""
        self.web_url = ""
        self.engine_serial = 0
        self.last_fault = "none"
        self.takeover_failures: list[str] = []

    # --- the database ------------------------------------------------------------------------------
    def database_url(self) -> str:
        source = self.args.db or os.environ.get("DATABASE_URL", "")
        if source.startswith(("postgres://", "postgresql://")):
            import psycopg

            parsed = urlparse(source)
            self.pg_name = f"autocoin_soak_{os.getpid()}_{secrets.token_hex(3)}"
            self.pg_admin_url = parsed._replace(path="/postgres").geturl()
            with psycopg.connect(self.pg_admin_url, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.pg_name}"')
            return parsed._replace(path=f"/{self.pg_name}").geturl()
        self.sqlite_path = self.tmp / "soak.sqlite3"
        return f"sqlite:///{self.sqlite_path}"

    def drop_database(self) -> None:
        if self.pg_name:
            import psycopg

            with psycopg.connect(self.pg_admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')

    def setup_django(self, db_url: str) -> None:
        os.environ.update(self.env)
        os.environ["DATABASE_URL"] = db_url
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autocoin.settings")
        import django

        django.setup()
        from django.db import connections

        # The soak's own reads must survive `pg_terminate_backend`: a plain connection per use, no pool.
        connections["default"].settings_dict.get("OPTIONS", {}).pop("pool", None)
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from django.core.management import call_command

        from trading.models import EngineState, StrategyConfig

        call_command("migrate", interactive=False, verbosity=0)
        user, _ = get_user_model().objects.get_or_create(username=API_USER)
        user.groups.add(Group.objects.get(name="Operators"))
        # A cross of the close over the previous close: a signal whenever the minute's direction turns.
        StrategyConfig.objects.update_or_create(strategy="sma_cross", defaults={"params": {"fast": 1, "slow": 2}})
        EngineState.load()
        self.close_db()

    @staticmethod
    def close_db() -> None:
        from django.db import connection

        connection.close()

    # --- processes -----------------------------------------------------------------------------------
    def start(self, name: str, *args: str) -> Child:
        child = Child(name, list(args), self.env, self.tmp)
        self.children.append(child)
        return child

    def start_sandbox(self) -> None:
        sandbox = self.start(
            "sandbox", "runsandbox", "--port", "0", "--seed", str(self.args.seed), "--control-token", self.control_token
        )

        def url() -> str | None:
            match = re.search(r"on (http://127\.0\.0\.1:\d+)", sandbox.log.read_text(encoding="utf-8", errors="replace"))
            if not sandbox.alive():
                raise SoakError(f"the sandbox did not start:\n{sandbox.tail()}")
            return match.group(1) if match else None

        self.sandbox_url = wait_for(url, 30, "the sandbox")
        self.env["UPBIT_API_BASE"] = self.sandbox_url
        self.http.headers["X-Sandbox-Token"] = self.control_token

    def start_web(self) -> None:
        port = free_port()
        web = self.start("web", "runserver", "--noreload", f"127.0.0.1:{port}")
        self.web_url = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            if not web.alive():
                raise SoakError(f"the web server did not start:\n{web.tail()}")
            try:
                return self.http.get(f"{self.web_url}/healthz", timeout=2).status_code < 500
            except requests.RequestException:
                return False

        wait_for(answers, 60, "the web server")

    def start_engine(self) -> Child:
        self.engine_serial += 1
        engine = self.start(f"engine-{self.engine_serial}", "runengine")
        self.engines.append(engine)
        return engine

    def owner(self) -> str:
        from trading.models import EngineState

        try:
            return EngineState.objects.values_list("owner", flat=True).get(pk=EngineState.SINGLETON_PK)
        finally:
            self.close_db()

    def engine_state(self) -> str:
        from trading.models import EngineState

        try:
            return EngineState.objects.values_list("state", flat=True).get(pk=EngineState.SINGLETON_PK)
        finally:
            self.close_db()

    def wait_claimed(self, engine: Child, timeout: float = 30) -> None:
        def claimed() -> bool:
            if not engine.alive():
                raise SoakError(f"{engine.name} exited before claiming the engine:\n{engine.tail()}")
            return self.owner().endswith(f":{engine.pid}")

        wait_for(claimed, timeout, f"{engine.name} to claim the engine")

    def takeover(self, engine: Child) -> None:
        """A new engine must take the claim over from a dead or frozen one; failing to is a finding, not a crash."""
        try:
            self.wait_claimed(engine)
        except SoakError as error:
            self.takeover_failures.append(str(error).splitlines()[0])
            engine.expected_exit = True
            engine.signal(signal.SIGKILL)

    def live_engines(self) -> list[Child]:
        """Engines still running; an engine that ended without the soak asking is a finding."""
        alive = []
        for engine in self.engines:
            if engine.alive():
                alive.append(engine)
            elif not engine.expected_exit:
                engine.expected_exit = True
                errors = [line for line in engine.tail(60).splitlines() if "Error" in line]
                cause = errors[-1].strip() if errors else "no error in its log"
                self.engine_deaths.append(
                    f"{engine.name} exited with {engine.proc.returncode} (last fault: {self.last_fault}): {cause}"
                )
        self.engines = alive
        return alive

    # --- the two doors: the sandbox's control endpoint and our API --------------------------------------
    def control(self, method: str, action: str, payload: dict[str, Any] | None = None) -> Any:
        body = payload if payload is not None or method == "GET" else {}
        response = self.http.request(method, f"{self.sandbox_url}/_sandbox/{action}", json=body, timeout=30)
        if response.status_code >= 400:
            raise SoakError(f"sandbox control {method} {action}: {response.status_code} {response.text}")
        return response.json()

    def api(self, method: str, path: str, payload: dict[str, Any] | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.api_token}"}
        return self.http.request(method, f"{self.web_url}/api/{path}", json=payload, headers=headers, timeout=30)

    def api_start(self) -> None:
        if self.api("POST", "engine/start").status_code == 200:
            self.events["api_start"] += 1

    # --- the chaos -------------------------------------------------------------------------------------
    def move_price(self) -> None:
        price = Decimal(self.control("GET", f"price?market={MARKET}")["price"])
        step = Decimal(str(round(self.rng.uniform(-0.01, 0.01), 4)))
        self.control("POST", "price", {"market": MARKET, "price": str((price * (1 + step)).quantize(Decimal("1000")))})
        self.events["price_moves"] += 1

    def fault(self, kind: str) -> None:
        rng = self.rng
        if kind == "manual":
            side = rng.choice(("buy", "buy", "sell", "close"))
            body: dict[str, Any] = {"side": side}
            if side == "buy":
                body["krw"] = str(rng.choice((5000, 6000, 8000, 10000)))
            elif side == "sell":
                body["volume"] = "all"
            status = self.api("POST", "orders/manual", body).status_code
            self.events[f"manual_{status}"] += 1
        elif kind == "stopstart":
            self.api("POST", "engine/stop")
            time.sleep(rng.uniform(0.2, 3))
            self.api_start()
        elif kind == "drop":
            self.control("POST", "drop", {"path": "/v1/orders", "method": "POST", "count": 1})
        elif kind == "stall":
            seconds = READ_TIMEOUT_SEC + rng.uniform(0.5, 3)
            self.control(
                "POST",
                "stall",
                {"path": "/v1/orders", "method": "POST", "seconds": seconds, "count": 1, "after": rng.random() < 0.5},
            )
        elif kind == "5xx":
            paths = (("/v1/orders", "POST"), ("/v1/order", "GET"), ("/v1/accounts", "GET"), ("/v1/ticker", "GET"))
            path, method = rng.choices(paths, (1, 2, 2, 2))[0]
            status = rng.choice((500, 502, 503))
            self.control("POST", "fail", {"path": path, "method": method, "status": status, "count": rng.randint(1, 3)})
        elif kind == "429":
            path, method = rng.choice((("/v1/orders", "POST"), ("/v1/order", "GET")))
            self.control(
                "POST",
                "fail",
                {"path": path, "method": method, "status": 429, "name": "too_many_requests", "count": rng.randint(2, 6)},
            )
        elif kind == "kill":
            for engine in self.live_engines():
                engine.expected_exit = True
                engine.signal(signal.SIGKILL)
                engine.proc.wait(timeout=10)  # reaped: its pid is gone, so the next engine takes over at once
            self.takeover(self.start_engine())
        elif kind == "freeze":
            frozen = self.live_engines()
            for engine in frozen:
                engine.signal(signal.SIGSTOP)
                engine.frozen = True
            # A second engine refuses while the heartbeat is fresh and takes over once it is stale.
            time.sleep(STALE_AFTER_SEC + rng.uniform(0.5, 2))
            self.takeover(self.start_engine())
            time.sleep(rng.uniform(0, 2))
            for engine in frozen:
                # Taken over while frozen: it must notice and leave (exit 1) without another cycle.
                engine.expected_exit = True
                engine.signal(signal.SIGCONT)
                engine.frozen = False
        elif kind == "dbkill":
            self.kill_database_connections()
        self.done[kind] += 1
        self.last_fault = kind

    def kill_database_connections(self) -> None:
        if self.pg_name:
            import psycopg

            with psycopg.connect(self.pg_admin_url, autocommit=True) as conn:
                killed = conn.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    [self.pg_name],
                ).fetchone()
            self.events["db_backends_terminated"] += int(killed[0]) if killed else 0
        elif self.sqlite_path is not None:
            writer = sqlite3.connect(self.sqlite_path, timeout=30, isolation_level=None)
            try:
                writer.execute("BEGIN IMMEDIATE")
                time.sleep(self.rng.uniform(2, 6))
                writer.execute("ROLLBACK")
            finally:
                writer.close()

    def tend(self) -> None:
        """Between faults: an engine is always running and trading (a kill-switch is reset, as an operator would)."""
        for name in ("web", "sandbox"):
            child = next(child for child in self.children if child.name == name)
            if not child.alive():
                raise SoakError(f"the {name} process died:\n{child.tail()}")
        if not self.live_engines():
            self.events["engine_restarts"] += 1
            self.start_engine()
        state = self.engine_state()
        if state == "ERROR" and self.api("POST", "engine/reset").status_code == 200:
            self.events["error_resets"] += 1
        if state in ("IDLE", "ERROR"):
            self.api_start()

    def chaos(self, seconds: float) -> None:
        from django.db import DatabaseError

        deadline = time.monotonic() + seconds
        kinds = list(self.kinds)
        weights = [WEIGHTS[kind] for kind in kinds]
        while time.monotonic() < deadline:
            time.sleep(self.rng.uniform(1, 3))
            try:
                self.tend()
                if self.rng.random() < 0.5:
                    self.move_price()
                if "manual" in kinds and self.rng.random() < 0.3:
                    self.fault("manual")  # orders every few seconds, whatever else goes wrong
                if kinds:
                    self.fault(self.rng.choices(kinds, weights)[0])
            except (requests.RequestException, DatabaseError) as error:
                # The web server, the sandbox or the database did not answer in time (a held lock, a busy machine).
                self.events["unanswered_calls"] += 1
                self.last_fault = f"{self.last_fault} (then {type(error).__name__})"

    # --- the end ----------------------------------------------------------------------------------------
    def settle(self) -> bool:
        """Faults off, the price held: wait until nothing is NEW or UNKNOWN and a few cycles have run since."""
        from trading.models import EngineState, Order

        self.control("POST", "reset_faults")
        for engine in self.engines:
            if engine.frozen:
                engine.signal(signal.SIGCONT)
                engine.frozen = False
        self.control("POST", "price", {"market": MARKET, "price": self.control("GET", f"price?market={MARKET}")["price"]})
        deadline = time.monotonic() + SETTLE_SEC
        settled_at: int | None = None
        while time.monotonic() < deadline:
            try:
                self.tend()
            except requests.RequestException:
                self.events["unanswered_calls"] += 1
            try:
                unsettled = Order.objects.filter(status__in=Order.OPEN_STATUSES).exists()
                iteration = EngineState.objects.values_list("iteration", flat=True).get(pk=EngineState.SINGLETON_PK)
            finally:
                self.close_db()
            if unsettled:
                settled_at = None
            elif settled_at is None:
                settled_at = iteration
            elif iteration >= settled_at + 3:
                return True
            time.sleep(1)
        return False

    def stop_all(self) -> None:
        if self.web_url:
            try:
                self.api("POST", "engine/stop")
                wait_for(lambda: self.engine_state() in ("IDLE", "ERROR"), 20, "the engine to stop")
            except (SoakError, requests.RequestException):
                pass
        for engine in self.live_engines():
            engine.expected_exit = True
            engine.stop()

    def kill_children(self) -> None:
        for child in reversed(self.children):
            child.expected_exit = True
            child.stop(grace=5)  # a child that already ended is only reaped


def parse_faults(text: str) -> tuple[str, ...]:
    if text in ("", "none"):
        return ()
    if text == "all":
        return FAULT_KINDS
    kinds = tuple(kind.strip() for kind in text.split(",") if kind.strip())
    unknown = [kind for kind in kinds if kind not in FAULT_KINDS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown fault kind(s) {', '.join(unknown)}; use {','.join(FAULT_KINDS)}, all or none")
    return kinds


def child_env(db_url: str, api_token: str) -> dict[str, str]:
    from exchange.sandbox.state import SANDBOX_ACCESS_KEY, SANDBOX_SECRET_KEY

    env = {k: v for k, v in os.environ.items() if not k.startswith(("UPBIT_", "PAPER_", "TELEGRAM_", "NOTIFY_", "AUTOCOIN_"))}
    env.update(
        PYTHONUNBUFFERED="1",
        DATABASE_URL=db_url,
        PAPER_MODE="false",
        UPBIT_ACCESS_KEY=SANDBOX_ACCESS_KEY,
        UPBIT_SECRET_KEY=SANDBOX_SECRET_KEY,
        UPBIT_READ_TIMEOUT_SEC=str(READ_TIMEOUT_SEC),
        UPBIT_CONNECT_TIMEOUT_SEC="1",
        TRADING_MARKET=MARKET,
        STRATEGY="sma_cross",
        LOOP_INTERVAL_SEC="1",
        ENGINE_STALE_AFTER_SEC=str(STALE_AFTER_SEC),
        ORDER_COOLDOWN_SEC="0",
        MAX_ORDER_KRW="10000",
        MAX_POSITION_RATIO="1",
        MAX_DAILY_LOSS_KRW="100000000",
        MAX_CONSECUTIVE_FAILURES="10",
        BALANCE_SNAPSHOT_INTERVAL_SEC="5",
        AUTOCOIN_API_TOKEN=api_token,
        AUTOCOIN_API_USER=API_USER,
        LOG_LEVEL="INFO",
    )
    return env


def report(soak: Soak, minutes: float, audit: Any, settled: bool) -> int:
    print(f"soak: {minutes:.1f} minutes, seed {soak.args.seed}, database {'postgresql' if soak.pg_name else 'sqlite'}")
    print(
        f"  exchange orders {audit.figures.get('exchange_orders', 0)}, our orders {audit.figures.get('our_orders', {})}, "
        f"exchange trades {audit.figures.get('exchange_trades', 0)}, our fills {audit.figures.get('our_fills', 0)}"
    )
    print(f"  manual requests by outcome: {audit.figures.get('manual_requests', {})}")
    print(f"  faults injected: {dict(sorted(soak.done.items())) or 'none'}")
    print(f"  also: {dict(sorted(soak.events.items()))}")
    counts = dict(audit.counts)
    counts["unexpected_engine_exits"] = len(soak.engine_deaths)
    counts["failed_takeovers"] = len(soak.takeover_failures)
    counts["not_settled_in_time"] = 0 if settled else 1
    width = max(len(name) for name in counts)
    for name, value in counts.items():
        print(f"  {name:<{width}} {value}{'' if value == 0 else '   <-- must be 0'}")
    for note in audit.notes[:40]:
        print(f"    {note}")
    for death in soak.engine_deaths[:10]:
        print(f"    unexpected_engine_exits: {death}")
    for failure in soak.takeover_failures[:5]:
        print(f"    failed_takeovers: {failure}")
    failed = [name for name, value in counts.items() if value]
    print("soak: PASSED" if not failed else f"soak: FAILED ({', '.join(failed)})")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Chaos soak: the live engine against the sandbox with random faults, then an audit."
    )
    parser.add_argument("--minutes", type=float, default=2.0, help="minutes of faults (default 2)")
    parser.add_argument(
        "--db", default="", help="a postgres:// URL: the soak creates (and drops) its own database on that server; default SQLite"
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="random seed of the faults and the sandbox market (default: a new one, printed)"
    )
    parser.add_argument(
        "--faults", type=parse_faults, default=FAULT_KINDS, help=f"comma-separated kinds (default all): {','.join(FAULT_KINDS)}"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, SQLite file)")
    args = parser.parse_args(argv)
    if not 0 < args.minutes <= 24 * 60:
        parser.error("--minutes must be more than 0 and at most a day")
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 1_000_000)
    soak = Soak(args)

    def overran(signum: int, _frame: object) -> None:
        raise SoakError(f"the soak overran its time limit ({signal.Signals(signum).name})")

    def terminated(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)  # through the finally below, which kills every child

    # A hard bound on the whole run, whatever hangs: the faults, the settling, the stops, with room to spare.
    signal.signal(signal.SIGALRM, overran)
    signal.alarm(int(args.minutes * 60 + SETTLE_SEC + 300))
    signal.signal(signal.SIGTERM, terminated)
    print(f"soak: {args.minutes:g} minutes of faults ({','.join(args.faults) or 'none'}), seed {args.seed}", flush=True)
    started = time.monotonic()
    code = 2
    try:
        db_url = soak.database_url()
        soak.env = child_env(db_url, soak.api_token)
        soak.setup_django(db_url)
        soak.start_sandbox()
        soak.start_web()
        first = soak.start_engine()
        soak.wait_claimed(first)
        soak.api_start()
        soak.chaos(args.minutes * 60)
        minutes = (time.monotonic() - started) / 60
        settled = soak.settle()
        soak.stop_all()
        state = soak.control("GET", "state")
        from bench.soak_audit import run_audit

        audit = run_audit(state, MARKET.split("-")[1])
        soak.close_db()
        code = report(soak, minutes, audit, settled)
    except SoakError as error:
        print(f"soak: could not run: {error}", file=sys.stderr)
    finally:
        signal.alarm(0)
        soak.kill_children()
        if "django.db" in sys.modules:
            with contextlib.suppress(Exception):  # Django may not have been set up at all
                soak.close_db()
        try:
            soak.drop_database()
        except Exception as error:  # noqa: BLE001 - the verdict stands; a leftover database is only untidy
            print(f"soak: could not drop {soak.pg_name}: {error}", file=sys.stderr)
        if args.keep or code != 0:
            print(f"soak: logs in {soak.tmp}")
        else:
            shutil.rmtree(soak.tmp, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
