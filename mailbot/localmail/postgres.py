"""A throwaway PostgreSQL cluster for the tests and the local demo.

initdb into `root/data`, listen on 127.0.0.1 and a free port with trust authentication, and hand
out SQLAlchemy URLs to fresh databases. As root, the server runs as the `postgres` OS user,
because initdb and postgres refuse to run as root.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

from mailbot.errors import MailbotError
from mailbot.localmail.ports import (
    LOCALHOST,
    check_reachable,
    free_port,
    kill_group,
    pid_alive,
    tail,
    wait_until,
)
from mailbot.localmail.service import Service

_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_running: set[Postgres] = set()

# Durability is pointless for throwaway data, and these make initdb, CREATE DATABASE and
# commits much faster.
_SETTINGS = {
    "listen_addresses": f"'{LOCALHOST}'",
    # TCP only: no socket file in /var/run/postgresql or in a long path under root.
    "unix_socket_directories": "''",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "log_min_messages": "warning",
}


class PostgresError(MailbotError, RuntimeError):
    pass


def find_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin that has initdb and pg_ctl, or
    the directory of `pg_ctl` on PATH."""
    candidates = sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else -1,
        reverse=True,
    )
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).parent
    return None


class Postgres(Service):
    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = Path(root).absolute()
        self.host = LOCALHOST
        self._auto_port = port is None
        self._port = port or free_port()
        self._as_root = os.geteuid() == 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._counter = 0

    @staticmethod
    def available() -> bool:
        """Whether the PostgreSQL server binaries are installed."""
        return find_bindir() is not None

    @property
    def port(self) -> int:
        return self._port

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{database}"

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> None:
        if self.running:
            return
        self._prepare()
        self._stop_stale_server()
        for attempt in range(3):
            self._write_settings()
            if self._launch(timeout):
                _running.add(self)
                return
            # An automatically chosen port may have been taken meanwhile: try another.
            if not (self._auto_port and "already in use" in tail(self.log_path, 10)):
                break
            if attempt < 2:
                self._port = free_port()
        raise PostgresError(
            f"PostgreSQL did not start on {self.host}:{self.port} within {timeout:.0f} s.\n"
            f"--- {self.log_path}\n{tail(self.log_path)}"
        )

    def stop(self, *, immediate: bool = False) -> None:
        """Stop the server: a fast shutdown, or with `immediate=True` one without the
        shutdown checkpoint (like a crash; the next start runs recovery)."""
        proc, self._proc = self._proc, None
        _running.discard(self)
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGQUIT if immediate else signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                kill_group(proc.pid)
        # Backends exit with the postmaster; make sure none is left behind.
        kill_group(proc.pid, signal.SIGKILL, wait=5)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)

    def restart(self, *, immediate: bool = False) -> None:
        self.stop(immediate=immediate)
        self.start()

    # -- databases -------------------------------------------------------------------------

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (named `name`, or a fresh unique name) and return its
        SQLAlchemy URL."""
        if name is None:
            self._counter += 1
            name = f"db_{os.getpid()}_{self._counter}"
        self._check_name(name)
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting anyone still connected (e.g. a leftover pool)."""
        self._check_name(name)
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # -- internals -------------------------------------------------------------------------

    @staticmethod
    def _check_name(name: str) -> None:
        if not _NAME_RE.match(name):
            raise ValueError(f"database names here are lower-case identifiers, not {name!r}")

    def _admin(self, sql: str) -> None:
        import psycopg  # optional dependency: only needed once a database is used

        with psycopg.connect(
            host=self.host, port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(sql.encode())

    def _bindir(self) -> Path:
        bindir = find_bindir()
        if bindir is None:
            raise PostgresError(
                "PostgreSQL server binaries not found (looked in /usr/lib/postgresql/*/bin and "
                "on PATH). Run `scripts/install-system-deps`."
            )
        return bindir

    def _as_postgres(self) -> dict[str, Any]:
        """Popen arguments that run a command as the postgres OS user when we are root."""
        if not self._as_root:
            return {"cwd": self.root}
        # cwd: the postgres user may not be allowed into our current directory.
        return {"user": "postgres", "group": "postgres", "extra_groups": [], "cwd": self.root}

    def _prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            check_reachable(self.root, "postgres")
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self.root.chmod(0o700)
        if (self.data_dir / "PG_VERSION").exists():
            return  # an existing cluster (the demo reusing its directory)
        result = subprocess.run(
            [
                str(self._bindir() / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "--no-instructions",
                "--encoding=UTF8",
                "--no-locale",  # C collation: fast and the same on every machine
            ],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
            **self._as_postgres(),
        )
        if result.returncode != 0:
            raise PostgresError(f"initdb failed:\n{result.stdout}{result.stderr}")

    def _write_settings(self) -> None:
        # postgresql.auto.conf is read last and owned by us; rewriting it keeps restarts simple.
        settings = {**_SETTINGS, "port": str(self.port)}
        text = "# Written by mailbot.localmail.postgres\n" + "".join(
            f"{key} = {value}\n" for key, value in settings.items()
        )
        path = self.data_dir / "postgresql.auto.conf"
        path.write_text(text, encoding="utf-8")
        if self._as_root:
            pw = pwd.getpwnam("postgres")
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def _launch(self, timeout: float) -> bool:
        with open(self.log_path, "ab") as log_file:
            # The postmaster stays our child (no pg_ctl daemonising), in its own process
            # group, so stop() can always find and end it and its backends.
            self._proc = subprocess.Popen(
                [str(self._bindir() / "postgres"), "-D", str(self.data_dir)],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                start_new_session=True,
                **self._as_postgres(),
            )
        proc = self._proc
        finished = wait_until(lambda: proc.poll() is not None or self._ready(), timeout)
        if finished and proc.poll() is None:
            return True
        self.stop(immediate=True)
        return False

    def _ready(self) -> bool:
        # What `pg_ctl -w` checks: the postmaster writes "ready" as the 8th line of its pid file
        # once it accepts connections.
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return len(lines) >= 8 and lines[7].strip() == "ready"

    def _stop_stale_server(self) -> None:
        """Stop a postmaster left running in this directory by a process that died (the demo
        killed with SIGKILL, say); it would hold the port and the data directory."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            return
        if str(self.data_dir).encode() in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGQUIT)
            wait_until(lambda: not pid_alive(pid), 10)


@atexit.register
def _stop_all() -> None:
    # Safety net for interrupted runs: never leave a server behind.
    for server in list(_running):
        with contextlib.suppress(Exception):
            server.stop(immediate=True)


__all__ = ["Postgres", "PostgresError", "find_bindir"]
