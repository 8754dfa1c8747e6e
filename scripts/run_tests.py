"""Run the whole suite in parallel and in a random order; a run in which no test executed is a failure, never a pass.

The order's seed is printed first, so a failing order can be run again: `scripts/run_tests.py --seed N`
(or `AUTOCOIN_TEST_SEED=N`). `--workers N` (or `AUTOCOIN_TEST_WORKERS=N`) sets the number of processes;
the default is one per CPU. Any other argument goes to pytest as is.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NO_TESTS_COLLECTED = 5


def _option(argv: list[str], name: str, environment: str, default: str) -> tuple[str, list[str]]:
    """The value of `--name VALUE` / `--name=VALUE` (removed from argv), else the environment, else `default`."""
    rest: list[str] = []
    value = os.environ.get(environment) or default
    arguments = iter(argv)
    for argument in arguments:
        if argument == name:
            value = next(arguments, value)
        elif argument.startswith(f"{name}="):
            value = argument.split("=", 1)[1]
        else:
            rest.append(argument)
    return value, rest


def main(argv: list[str]) -> int:
    seed, argv = _option(argv, "--seed", "AUTOCOIN_TEST_SEED", str(random.randrange(1, 2**31)))  # noqa: S311 - an order, not a secret
    workers, argv = _option(argv, "--workers", "AUTOCOIN_TEST_WORKERS", "auto")
    print(f"autocoin: tests in random order with seed {seed} on {workers} worker(s); rerun this order with --seed {seed}")
    sys.stdout.flush()
    command = [sys.executable, "-m", "pytest", "-p", "randomly", "-p", "xdist", f"--randomly-seed={seed}", "-n", workers, *argv]
    code = subprocess.call(command, cwd=ROOT)
    if code == NO_TESTS_COLLECTED:
        print("autocoin: no test ran; that is a failure", file=sys.stderr)
        return 1
    if code != 0:
        print(f"autocoin: tests failed with seed {seed}; rerun this order with --seed {seed}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
