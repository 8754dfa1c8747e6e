"""Run the web server and the engine process together (`make run`), or with the sandbox (`make demo`).

Each runs as its own process, exactly as a person would start them by hand; Ctrl-C stops all of them
cleanly (the engine finishes its cycle first). An engine process that dies (killed, crashed, or gave up
on a database that did not answer) is started again after 1, 2, 4 … up to 60 s, while the web server
keeps running; each restart is said on the terminal and recorded as an event by the new engine.

The children run in their own process group, so the terminal's Ctrl-C reaches only this launcher,
which stops them in order: the engine first (it may be in the middle of an order), then the web
server, then the sandbox (which the engine still talks to while it finishes). On Linux each child is
also told to stop when the launcher dies, so a killed launcher leaves no engine trading on its own.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.management.commands.runserver import naiveip_re

DEMO_PORT = 8765
RESTART_FIRST_SEC = 1.0
RESTART_MAX_SEC = 60.0
PR_SET_PDEATHSIG = 1
DEMO_KEY_PREFIX = "sandbox-demo"


def demo_keys() -> tuple[str, str]:
    """A key pair for one demo run. The sandbox keeps its balances in memory, so every run is a fresh exchange
    account: with keys of its own, the run's orders, fills and PnL are a ledger of their own too (the ledger
    belongs to the API and the key's fingerprint), and an earlier run's position never shows as held."""
    return f"{DEMO_KEY_PREFIX}-{secrets.token_hex(8)}", f"{DEMO_KEY_PREFIX}-secret-{secrets.token_hex(16)}"


class Command(BaseCommand):
    help = "Start the web server (127.0.0.1:8000) and the engine together; --demo adds the sandbox exchange."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000", help="web server address (default 127.0.0.1:8000)")
        parser.add_argument(
            "--demo",
            action="store_true",
            help="also start the sandbox exchange and point the engine at it (no keys, no network, no money)",
        )
        parser.add_argument(
            "--verbose",
            action="store_true",
            help="also print the web server's line for every successful dashboard poll (LOG_POLLS=true; quiet by default)",
        )
        parser.add_argument("--sandbox-port", type=int, default=DEMO_PORT, help=f"demo: the sandbox's port (default {DEMO_PORT})")
        parser.add_argument(
            "--demo-database", default="", help="demo: the SQLite file to use (default var/demo.sqlite3 in the project)"
        )

    def handle(self, *args: object, **options: object) -> None:
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        python = sys.executable
        env = dict(os.environ)
        children: list[tuple[str, subprocess.Popen[bytes]]] = []
        address = naiveip_re.match(str(options["addr"]))
        if address is None or not 1 <= int(address["port"]) <= 65535:
            # Checked before anything starts: runserver would fail only after the engine and sandbox are up.
            raise CommandError(f"--addr {options['addr']!r} is not an address and port such as 127.0.0.1:8000 (port 1-65535)")
        if options["verbose"]:
            env["LOG_POLLS"] = "true"
        port = int(str(options["sandbox_port"]))
        web_port = int(address["port"])
        if options["demo"]:
            if not 1 <= port <= 65535:
                raise CommandError(f"--sandbox-port must be from 1 to 65535, not {port}")
            if port == web_port:
                raise CommandError(
                    f"the web server and the sandbox cannot share port {port}; choose another --addr or --sandbox-port"
                )
            if self._port_in_use(port):
                raise CommandError(f"port {port} is already in use (another sandbox or demo?); stop it or choose --sandbox-port")
        if self._port_in_use(web_port):
            # Checked here: runserver would fail only after the engine (and the sandbox) had started.
            raise CommandError(f"port {web_port} is already in use (is autocoin already running?); stop it or choose --addr")

        stopping = False

        def request_stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        # Installed before any child starts, so a Ctrl-C during start-up also stops everything in order.
        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        exit_code = 0
        engine_started = time.monotonic()
        try:
            if options["demo"]:
                env.update(self._demo_environment(python, manage, port, str(options["demo_database"] or ""), *demo_keys()))
                # The sandbox takes the run's keys from UPBIT_ACCESS_KEY / UPBIT_SECRET_KEY, never from its command line.
                sandbox = self._spawn([python, manage, "runsandbox", "--port", str(port)], env)
                children.append(("sandbox", sandbox))
                self._wait_for_port(port, sandbox)
            if not stopping:
                children.append(("web", self._spawn([python, manage, "runserver", str(options["addr"]), "--noreload"], env)))
                children.append(("engine", self._spawn([python, manage, "runengine"], env)))
                engine_started = time.monotonic()
            if options["demo"] and not stopping:
                self._start_demo_trading(python, manage, env)
            if not stopping:
                self._say(f"autocoin: dashboard at http://{options['addr']}/ (admin at /admin/); press Ctrl-C to stop everything")
            backoff = RestartBackoff()
            restart_at: float | None = None
            restart_note = ""
            while not stopping:
                for name, child in children:
                    code = child.poll()
                    if code is None:
                        continue
                    if name == "engine":
                        # The web server stays up: the dashboard is where a person sees what happened.
                        children.remove((name, child))
                        ran_for = time.monotonic() - engine_started
                        delay = backoff.next_delay(ran_for)
                        restart_note = f"restart {backoff.restarts}; the previous one {_exit_text(code)} after {ran_for:.1f} s"
                        self._say(f"autocoin: the engine process {_exit_text(code)}; starting it again in {delay:g} s")
                        restart_at = time.monotonic() + delay
                        break
                    self.stderr.write(f"autocoin: the {name} process exited with code {code}; stopping the others")
                    exit_code = code or 1
                    stopping = True
                    break
                if restart_at is not None and not stopping and time.monotonic() >= restart_at:
                    restart_at = None
                    engine = self._spawn([python, manage, "runengine", "--launcher-restart", restart_note], env)
                    children.append(("engine", engine))
                    engine_started = time.monotonic()
                    self._say(f"autocoin: engine process started again (pid {engine.pid}, {restart_note})")
                time.sleep(0.3)
        finally:
            # The engine first, so it can finish its cycle; the sandbox last, so the engine can still reach it.
            for name in ("engine", "web", "sandbox"):
                for child_name, child in children:
                    if child_name == name and child.poll() is None:
                        child.send_signal(signal.SIGTERM)
                        try:
                            child.wait(timeout=30)
                        except subprocess.TimeoutExpired:
                            self.stderr.write(f"autocoin: the {name} process did not stop in 30 s; killing it")
                            child.kill()
                            child.wait()
        if exit_code:
            raise CommandError(f"stopped because a process exited with code {exit_code}")
        self._say("autocoin: stopped")

    def _say(self, text: str) -> None:
        # Flushed at once: the children write to the same terminal (or log file) while this one waits.
        self.stdout.write(text)
        self.stdout.flush()

    @staticmethod
    def _spawn(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, env=env, process_group=0, preexec_fn=_stop_with_parent)

    @staticmethod
    def _port_in_use(port: int) -> bool:
        import socket

        with socket.socket() as probe:
            probe.settimeout(0.2)
            return probe.connect_ex(("127.0.0.1", port)) == 0

    def _demo_environment(
        self, python: str, manage: str, port: int, database: str, access_key: str, secret_key: str
    ) -> dict[str, str]:
        demo_db = Path(database).resolve() if database else Path(settings.BASE_DIR) / "var" / "demo.sqlite3"
        demo_db.parent.mkdir(parents=True, exist_ok=True)
        env = {
            "DATABASE_URL": f"sqlite:///{demo_db}",
            "UPBIT_API_BASE": f"http://127.0.0.1:{port}",
            "UPBIT_SANDBOX": "true",
            "UPBIT_ACCESS_KEY": access_key,
            "UPBIT_SECRET_KEY": secret_key,
            "PAPER_MODE": "false",
            "LOOP_INTERVAL_SEC": "2",
            "ORDER_COOLDOWN_SEC": "10",
        }
        prepared = dict(os.environ, **env)
        subprocess.run([python, manage, "migrate", "--no-input", "-v", "0"], env=prepared, check=True)
        admin = subprocess.run([python, manage, "ensureadmin"], env=prepared, check=True, capture_output=True, text=True)
        if admin.stdout.strip():
            self._say(f"autocoin demo: the demo has its own database and its own admin user:\n{admin.stdout.rstrip()}")
        self._say(
            f"autocoin demo: sandbox exchange on 127.0.0.1:{port}, database {demo_db}; "
            "the engine trades the sandbox's simulated market (no real money)"
        )
        return env

    def _start_demo_trading(self, python: str, manage: str, env: dict[str, str]) -> None:
        """Start the engine and queue one small manual buy, so a trade shows within the first cycles;
        after that the strategy trades on its own."""
        subprocess.run([python, manage, "enginectl", "reset", "--reason", "demo start"], env=env, capture_output=True)
        subprocess.run([python, manage, "enginectl", "start", "--reason", "demo start"], env=env, check=False)
        # Manual orders are refused until the engine process is online (its first heartbeat): retry until then.
        deadline = time.monotonic() + 30
        while True:
            queued = subprocess.run(
                [python, manage, "enginectl", "buy", "--krw", "10000", "--reason", "demo: a first trade to watch"],
                env=env,
                check=False,
                capture_output=True,
                text=True,
            )
            if queued.returncode == 0 or time.monotonic() > deadline:
                self._say((queued.stdout or queued.stderr).strip())
                return
            time.sleep(0.5)

    def _wait_for_port(self, port: int, child: subprocess.Popen[bytes]) -> None:
        import socket

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if child.poll() is not None:
                raise CommandError("the sandbox exchange did not start")
            with socket.socket() as probe:
                probe.settimeout(0.2)
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.2)
        raise CommandError(f"the sandbox exchange did not open port {port} within 30 s")


class RestartBackoff:
    """1, 2, 4 … RESTART_MAX_SEC seconds between restarts; an engine that ran longer than that starts the
    sequence again (it was not crash-looping)."""

    def __init__(self, first_sec: float = RESTART_FIRST_SEC, max_sec: float = RESTART_MAX_SEC) -> None:
        self.first_sec = first_sec
        self.max_sec = max_sec
        self.restarts = 0
        self._streak = 0

    def next_delay(self, ran_for_sec: float) -> float:
        if ran_for_sec >= self.max_sec:
            self._streak = 0
        self.restarts += 1
        delay = min(self.max_sec, self.first_sec * float(2**self._streak))
        self._streak += 1
        return delay


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _stop_with_parent() -> None:
    """In the child, before exec: SIGTERM when the launcher dies (Linux prctl; elsewhere nothing)."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            pass
