"""Whether the process named in the engine's claim still exists.

The web reads it (a Stop with no engine alive completes at once) and the engine reads it (a crashed
engine's claim is taken over at once), so it lives below both."""

from __future__ import annotations

import os
import socket


def owner_is_dead(owner: str) -> bool:
    """True when `owner` ("host:pid") names a process on this machine that no longer exists.

    An owner on another machine, or one this process may not signal, is never called dead: only its
    heartbeat going stale can tell."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
