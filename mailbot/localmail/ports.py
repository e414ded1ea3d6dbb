"""Small OS helpers shared by the throwaway servers: free ports, waiting for a port, process
groups and directory permissions.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import stat
import time
from collections.abc import Callable
from pathlib import Path

LOCALHOST = "127.0.0.1"


def free_port(host: str = LOCALHOST) -> int:
    """A TCP port that is free right now. Another process may still take it before we bind it,
    so callers that pick ports automatically retry with fresh ones when binding fails."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_ports(count: int, host: str = LOCALHOST) -> list[int]:
    """`count` distinct free ports (all sockets are held open together so they differ)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in socks:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def port_is_bindable(host: str, port: int) -> bool:
    """Whether a listener could bind `port` now (SO_REUSEADDR, as asyncio servers use)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def port_is_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """Poll `condition` until it is true or `timeout` seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def live_group_members(pgid: int) -> list[int]:
    """PIDs in process group `pgid` that are not zombies.

    Zombies are skipped because orphaned children are re-parented to PID 1, which in some
    containers never reaps them: `killpg(pgid, 0)` would then report the group alive forever.
    """
    pids: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # After the ")" that ends the command name: state, ppid, pgrp, ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(entry))
    return pids


def pid_alive(pid: int) -> bool:
    """Whether `pid` is a running (non-zombie) process."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def kill_group(pgid: int, sig: int = signal.SIGKILL, wait: float = 5.0) -> None:
    """Send `sig` to a process group and wait until no live member remains."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
    if not wait_until(lambda: not live_group_members(pgid), wait) and sig != signal.SIGKILL:
        kill_group(pgid, signal.SIGKILL, wait)


def tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"({path} does not exist)"
    return "\n".join(text.splitlines()[-lines:]) or f"({path} is empty)"


def check_reachable(path: Path, who: str) -> None:
    """Raise if an unprivileged account (`who`) cannot traverse to `path`.

    Servers started as root drop to an unprivileged uid (Dovecot's mail processes, PostgreSQL)
    and then need +x on every parent directory. Home directories and pytest's own temporary
    root (/tmp/pytest-of-root, re-chmodded to 0700 by every pytest session) are 0700, so they
    fail; we say so instead of letting the server fail with a permission error in its log.
    """
    for parent in reversed(path.resolve().parents):
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            raise RuntimeError(
                f"{parent} (mode {stat.S_IMODE(mode):04o}) cannot be traversed by the "
                f"unprivileged account {who!r} that the server runs as, so it cannot reach "
                f"{path}. Use a directory whose parents are all world-traversable, such as "
                f"one made by tempfile.mkdtemp() itself (the server opens that one up), or "
                f"run `chmod o+x {parent}`."
            )
