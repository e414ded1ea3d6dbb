"""A throwaway Request Tracker 5 (Debian's request-tracker5) for the tests and benchmarks.

Its own site config directory (`RT_SITE_CONFIG_DIR`) with a SQLite database under `root`,
`rt-setup-database-5 --action init` to create it, and RT's own `rt-server` on 127.0.0.1 and
a free port. The superuser is `root` with password `password` (RT's initial data).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
from pathlib import Path

from mailbot.errors import MailbotError
from mailbot.localmail.ports import LOCALHOST, free_port, pid_alive, tail, wait_until
from mailbot.localmail.service import Service

RT_SERVER = Path("/usr/share/request-tracker5/libexec/rt-server")
RT_SETUP = "/usr/sbin/rt-setup-database-5"
ROOT_USER, ROOT_PASSWORD = "root", "password"
# Loaded after init: the account Mailbot signs in with, and a member of staff working in RT
# (whose changes Mailbot must pick up; its own it must ignore).
USERS = {"mailbot": "mailbot-secret", "agent": "agent-secret"}
_DATAFILE = """@Users = ({users});
@ACL = ({acl});
1;
"""
_running: set[RequestTracker] = set()


class RequestTrackerError(MailbotError, RuntimeError):
    """The local Request Tracker could not be set up or started."""


class RequestTracker(Service):
    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = Path(root).absolute()
        self.port = port or free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        """Whether Debian's request-tracker5 (with rt5-db-sqlite) is installed."""
        return RT_SERVER.exists() and Path(RT_SETUP).exists()

    @property
    def url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.root / "rt.log"

    @property
    def database(self) -> Path:
        return self.root / "rt.sqlite"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _env(self) -> dict[str, str]:
        return {**os.environ, "RT_SITE_CONFIG_DIR": str(self.root / "site")}

    def _write_config(self) -> None:
        site = self.root / "site"
        site.mkdir(parents=True, exist_ok=True)
        (site / "mailbot.pm").write_text(
            f"""Set($rtname, 'mailbot-test');
Set($Organization, 'mailbot.test');
Set($Timezone, 'UTC');
Set($DatabaseType, 'SQLite');
Set($DatabaseName, '{self.database}');
Set($WebDomain, '{LOCALHOST}');
Set($WebPort, {self.port});
Set($WebPath, '');
Set($WebBaseURL, '{self.url}');
Set($LogToSTDERR, 'warning');
Set($LogToSyslog, undef);
Set($MailCommand, 'mbox');
Set($CorrespondAddress, 'rt@mailbot.test');
Set($CommentAddress, 'rt-comment@mailbot.test');
1;
"""
        )

    def _insert_users(self) -> None:
        datafile = self.root / "users.pl"
        datafile.write_text(
            _DATAFILE.format(
                users=", ".join(
                    f"{{ Name => '{name}', Password => '{pw}', Privileged => 1, "
                    f"EmailAddress => '{name}@mailbot.test' }}"
                    for name, pw in USERS.items()
                ),
                acl=", ".join(f"{{ UserId => '{name}', Right => 'SuperUser' }}" for name in USERS),
            )
        )
        done = subprocess.run(
            [RT_SETUP, "--action", "insert", "--skip-create", "--datafile", str(datafile)],
            env=self._env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RequestTrackerError(f"loading RT users failed: {done.stderr[-500:]}")

    def reset(self) -> None:
        """A fresh, empty database (stop, delete, init, start: about 3 s)."""
        self.stop()
        self.database.unlink(missing_ok=True)
        self.start()

    def start(self, timeout: float = 60.0) -> None:
        if self.running:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        self._write_config()
        if not self.database.exists():
            init = subprocess.run(
                [RT_SETUP, "--action", "init", "--skip-create"],
                env=self._env(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                check=False,
            )
            if init.returncode != 0:
                raise RequestTrackerError(
                    f"rt-setup-database-5 failed: {(init.stderr or init.stdout)[-500:]}"
                )
            self._insert_users()
        log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            [str(RT_SERVER), "--listen", f"{LOCALHOST}:{self.port}", "--max-workers", "2"],
            env=self._env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        _running.add(self)
        if not wait_until(self._answers, timeout, interval=0.1):
            self.stop()
            raise RequestTrackerError(f"rt-server did not answer: {tail(self.log_path, 10)}")

    def _answers(self) -> bool:
        import httpx

        if not self.running:
            return False
        try:
            return httpx.get(f"{self.url}/REST/2.0/", timeout=2).status_code in (200, 401)
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        _running.discard(self)
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        wait_until(lambda: not pid_alive(proc.pid), 5)


def _stop_all() -> None:
    for server in list(_running):
        server.stop()


atexit.register(_stop_all)
