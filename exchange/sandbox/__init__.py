"""An Upbit-compatible sandbox exchange that runs on 127.0.0.1 (see docs/SANDBOX.md).

`exchange.sandbox.server.SandboxServer` is the in-process server; `python manage.py runsandbox` runs
it from the command line; `tests/sandbox_fixtures.py` starts it for tests.
"""

from __future__ import annotations
