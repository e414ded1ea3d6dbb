"""A private, throwaway Dovecot (IMAP + LMTP) for the tests and the local demo.

It runs from its own generated config under one directory, on free 127.0.0.1 ports, with
plain-text test users. Nothing here touches the system's Dovecot configuration or service.
"""

from __future__ import annotations

import atexit
import contextlib
import grp
import hashlib
import os
import pwd
import re
import shlex
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from mailbot.errors import MailbotError
from mailbot.localmail.ports import (
    LOCALHOST,
    check_reachable,
    free_ports,
    kill_group,
    port_is_open,
    tail,
    wait_until,
)
from mailbot.localmail.service import Service

DEFAULT_USERS = ("customerservices", "info", "manager", "customer")
DOMAIN = "example.org"

# As root, Dovecot refuses uid 0 for mail processes; they run as nobody/nogroup instead.
MAIL_UID = MAIL_GID = 65534

# Special-use folders every user gets, as on a typical hosted mailbox.
SPECIAL_FOLDERS = {"Drafts": r"\Drafts", "Sent": r"\Sent", "Junk": r"\Junk", "Trash": r"\Trash"}

TLSMode = Literal["none", "starttls", "implicit"]

_USER_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_APPENDUID_RE = re.compile(rb"\[APPENDUID \d+ (\d+)\]")
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes; Dovecot adds names such as "login/imap-urlauth"
_running: set[Dovecot] = set()


def find_dovecot() -> str:
    found = shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if os.access("/usr/sbin/dovecot", os.X_OK) else None
    )
    if not found:
        raise RuntimeError(
            "Dovecot is not installed (no `dovecot` on PATH or in /usr/sbin). "
            "Run `scripts/install-system-deps` (as root or with sudo) to install it."
        )
    return found


class DovecotError(MailbotError, RuntimeError):
    pass


class Dovecot(Service):
    """A Dovecot instance living entirely under `root`.

    Layout: root/etc (config, users, TLS cert), root/mail/<user>/Maildir, root/log/dovecot.log,
    root/run (base_dir). Mail and the certificate survive stop/start, so the demo can reuse a
    directory between runs.
    """

    def __init__(
        self,
        root: Path,
        users: Sequence[str] = DEFAULT_USERS,
        password: str = "secret",
        imap_port: int | None = None,
        *,
        imaps_port: int | None = None,
        lmtp_port: int | None = None,
        oauth2_introspection_url: str | None = None,
    ) -> None:
        self.root = Path(root).absolute()
        self.users = tuple(u.lower() for u in users)
        for user in self.users:
            if not _USER_RE.match(user):
                raise ValueError(f"invalid Dovecot test user name {user!r}")
        if ":" in password or "\n" in password:
            raise ValueError("the password cannot contain ':' or a newline (passwd-file format)")
        self.password = password
        # Also accept OAuth2 logins (XOAUTH2, OAUTHBEARER), checked by POSTing each token to
        # this URL (RFC 7662 introspection; see mailbot.localmail.authority).
        self.oauth2_introspection_url = oauth2_introspection_url
        self.host = LOCALHOST
        self._auto_ports = imap_port is None and imaps_port is None and lmtp_port is None
        auto = iter(free_ports(3))
        self._imap_port = imap_port or next(auto)
        self._imaps_port = imaps_port or next(auto)
        self._lmtp_port = lmtp_port or next(auto)
        self._as_root = os.geteuid() == 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._short_run_dir: Path | None = None
        self._exit_status: int | None = None  # of a master that died while starting

    # -- paths and ports -------------------------------------------------------------------

    @property
    def imap_port(self) -> int:
        """Plain IMAP; STARTTLS is offered."""
        return self._imap_port

    @property
    def imaps_port(self) -> int:
        """IMAP over implicit TLS with the self-signed `cert_path`."""
        return self._imaps_port

    @property
    def lmtp_port(self) -> int:
        return self._lmtp_port

    @property
    def cert_path(self) -> Path:
        return self.root / "etc" / "cert.pem"

    @property
    def log_path(self) -> Path:
        return self.root / "log" / "dovecot.log"

    @property
    def config_path(self) -> Path:
        return self.root / "etc" / "dovecot.conf"

    @property
    def maildir_root(self) -> Path:
        return self.root / "mail"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def address(self, user: str) -> str:
        return f"{user}@{DOMAIN}"

    def _ports(self) -> tuple[int, int, int]:
        return (self._imap_port, self._imaps_port, self._lmtp_port)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        if self.running:
            return
        binary = find_dovecot()
        self._prepare()
        for attempt in range(3):
            self._write_config()
            self._stop_stale_instance()
            busy = [p for p in self._ports() if port_is_open(self.host, p, timeout=0.2)]
            if not busy and self._launch(binary, timeout):
                _running.add(self)
                return
            # Another process may have taken an automatically chosen port meanwhile.
            in_use = busy or "Address already in use" in self._failure_text()
            if not (self._auto_ports and in_use):
                break
            if attempt < 2:
                self._imap_port, self._imaps_port, self._lmtp_port = free_ports(3)
        if busy:
            raise DovecotError(f"ports already in use on {self.host}: {busy}")
        what = (
            f"exited with status {self._exit_status}"
            if self._exit_status is not None
            else f"did not answer on {self.host}:{self.imap_port} within {timeout:.0f} s"
        )
        raise DovecotError(f"Dovecot {what}.\n{self._failure_text()}")

    def stop(self, *, kill: bool = False) -> None:
        """Stop the instance: SIGTERM to every Dovecot process at once (~5 ms; signalling
        only the master takes ~1 s while it waits for its children), or with `kill=True`
        SIGKILL, like a crash."""
        proc, self._proc = self._proc, None
        _running.discard(self)
        if proc is None:
            return
        if proc.poll() is None:
            kill_group(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        if self._short_run_dir is not None:
            shutil.rmtree(self._short_run_dir, ignore_errors=True)
            self._short_run_dir = None

    def restart(self, *, kill: bool = False) -> None:
        """Stop and start again on the same ports; mail is kept."""
        self.stop(kill=kill)
        self.start()

    # -- clients ---------------------------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts exactly this instance's self-signed certificate."""
        return ssl.create_default_context(cafile=str(self.cert_path))

    def connect(
        self,
        user: str | None = None,
        *,
        tls: TLSMode = "none",
        password: str | None = None,
        timeout: float = 10.0,
    ) -> IMAPClient:
        """An IMAPClient connected (and, when `user` is given, logged in). Use it in `with`."""
        if tls == "implicit":
            client = IMAPClient(
                self.host,
                self.imaps_port,
                ssl=True,
                ssl_context=self.ssl_context(),
                timeout=timeout,
            )
        else:
            client = IMAPClient(self.host, self.imap_port, ssl=False, timeout=timeout)
            if tls == "starttls":
                client.starttls(self.ssl_context())
        if user is not None:
            client.login(user, self.password if password is None else password)
        return client

    def append(
        self,
        user: str,
        raw: bytes,
        folder: str = "INBOX",
        flags: Iterable[str | bytes] = (),
    ) -> int | None:
        """APPEND a message as `user` (creating `folder` if needed); return its UID."""
        flags = tuple(flags)
        with self.connect(user) as client:
            try:
                response = client.append(folder, raw, flags=flags)
            except IMAPClientError as exc:
                # folder_exists() is true for \Noselect parents, so ask the server instead.
                if "TRYCREATE" not in str(exc):
                    raise
                client.create_folder(folder)
                response = client.append(folder, raw, flags=flags)
            client.logout()
        match = _APPENDUID_RE.search(response or b"")
        return int(match.group(1)) if match else None

    def messages(self, user: str, folder: str = "INBOX") -> list[bytes]:
        """Every message in `folder` as raw bytes, in UID order (read-only, keeps \\Seen)."""
        with self.connect(user) as client:
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            fetched = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
            client.logout()
        return [fetched[uid][b"BODY[]"] for uid in sorted(fetched)]

    def lmtp_deliver(self, rcpt: str, raw: bytes, envelope_from: str = f"sender@{DOMAIN}") -> None:
        """Deliver into a user's INBOX over LMTP, as an MTA would. `rcpt` is a user name or an
        address; any domain maps to the local part. One recipient per LMTP transaction, because
        smtplib.LMTP mishandles per-recipient replies for several."""
        with smtplib.LMTP(self.host, self.lmtp_port, timeout=30) as lmtp:
            lmtp.sendmail(envelope_from, [rcpt], raw)

    def empty_mailboxes(self, users: Iterable[str] | None = None) -> None:
        """Delete every message and every non-standard folder of the given (default: all)
        users, so each test starts from an empty INBOX plus the special-use folders."""
        for user in self.users if users is None else users:
            if self._is_pristine(user):
                continue  # saves an IMAP session (~15 ms) per untouched user
            with self.connect(user) as client:
                for *_, name in client.list_sub_folders():
                    if name.upper() != "INBOX" and name not in SPECIAL_FOLDERS:
                        client.unsubscribe_folder(name)
                # \Noselect parents ("Cases" for "Cases.Open") vanish with their children.
                folders = [
                    name
                    for flags, _, name in client.list_folders()
                    if not {b"\\noselect", b"\\nonexistent"} & {f.lower() for f in flags}
                ]
                # Deepest first, so a parent is never deleted before its children.
                for name in sorted(folders, key=len, reverse=True):
                    if name.upper() == "INBOX" or name in SPECIAL_FOLDERS:
                        if client.select_folder(name).get(b"EXISTS"):
                            client.delete_messages(client.search("ALL"))
                            client.expunge()
                        client.close_folder()
                    else:
                        client.delete_folder(name)
                client.logout()

    # -- internals -------------------------------------------------------------------------

    def _is_pristine(self, user: str) -> bool:
        """True when the user's Maildir holds no message and no extra folder."""
        maildir = self.maildir_root / user / "Maildir"
        if not maildir.is_dir():
            return True
        folders = [p for p in maildir.iterdir() if p.is_dir() and p.name.startswith(".")]
        if any(p.name[1:] not in SPECIAL_FOLDERS for p in folders):
            return False
        return not any(
            any((folder / sub).iterdir())
            for folder in (maildir, *folders)
            for sub in ("cur", "new", "tmp")
            if (folder / sub).is_dir()
        )

    def _prepare(self) -> None:
        for sub in ("etc", "log", "run", "state", "mail"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        if self._as_root:
            # Mail processes (uid 65534) and auth (user dovecot) must reach these directories.
            os.chmod(self.root, 0o755)
            check_reachable(self.root, "nobody")
            os.chmod(self.root / "etc", 0o755)
        for user in self.users:
            (self.maildir_root / user).mkdir(exist_ok=True)
        if self._as_root:
            for path in (self.maildir_root, *(self.maildir_root / u for u in self.users)):
                os.chown(path, MAIL_UID, MAIL_GID)
        users_file = self.root / "etc" / "users"
        users_file.write_text(
            "".join(f"{u}:{{PLAIN}}{self.password}::::::\n" for u in self.users),
            encoding="utf-8",
        )
        users_file.chmod(0o644)
        if not self.cert_path.exists():
            self._make_certificate()

    def _make_certificate(self) -> None:
        key = self.root / "etc" / "key.pem"
        if not shutil.which("openssl"):
            raise RuntimeError("openssl is missing: run `scripts/install-system-deps`.")
        # EC keys are generated in milliseconds; the SAN lets clients verify 127.0.0.1.
        command = shlex.split(
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
            " -days 3650 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1"
        )
        command += ["-keyout", str(key), "-out", str(self.cert_path)]
        subprocess.run(command, check=True, capture_output=True)
        key.chmod(0o600)

    def _run_dir(self) -> Path:
        run = self.root / "run"
        if len(str(run)) <= _SOCKET_PATH_MAX - 30:
            return run
        # Unix socket paths are limited to 108 bytes: use a short directory instead.
        if self._short_run_dir is None:
            self._short_run_dir = Path(tempfile.mkdtemp(prefix="mbdc-"))
            self._short_run_dir.chmod(0o755)
        return self._short_run_dir

    def _write_config(self) -> None:
        etc, mail = self.root / "etc", self.maildir_root
        instance = "mailbot-" + hashlib.sha1(str(self.root).encode()).hexdigest()[:8]
        if self._as_root:
            uid, gid, identity = MAIL_UID, MAIL_GID, ""
        else:
            uid, gid = os.getuid(), os.getgid()
            user, group = pwd.getpwuid(uid).pw_name, grp.getgrgid(gid).gr_name
            # Without root nothing can switch users or chroot: run every service as us.
            identity = (
                f"default_login_user = {user}\n"
                f"default_internal_user = {user}\n"
                f"default_internal_group = {group}\n"
                "service imap-login {\n  chroot =\n}\n"
                "service anvil {\n  chroot =\n}\n"
                "service ipc {\n  chroot =\n}\n"
                "service auth-worker {\n  user = $default_internal_user\n}\n"
            )
        folders = "".join(
            f"  mailbox {name} {{\n    auto = subscribe\n    special_use = {flag}\n  }}\n"
            for name, flag in SPECIAL_FOLDERS.items()
        )
        config = f"""\
# Generated by mailbot.localmail.dovecot: a private throwaway instance. Edits are overwritten.
instance_name = {instance}
base_dir = {self._run_dir()}
state_dir = {self.root / "state"}
log_path = {self.log_path}
protocols = imap lmtp
listen = {self.host}
ssl = yes
ssl_cert = <{self.cert_path}
ssl_key = <{etc / "key.pem"}
# Test users log in with plain passwords, also without TLS.
disable_plaintext_auth = no
auth_mechanisms = plain login{" xoauth2 oauthbearer" if self.oauth2_introspection_url else ""}
# user@any.domain and User map to the local user name (LMTP recipients, IMAP logins).
auth_username_format = %Ln
auth_failure_delay = 0
postmaster_address = postmaster@{DOMAIN}
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:~/Maildir
# Throwaway data: skip fsync for speed.
mail_fsync = never
# Tests open many parallel connections per user (IDLE watchers, pollers, the bot).
mail_max_userip_connections = 200
{identity}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {etc / "users"}
}}
{self._oauth2_passdb(etc)}userdb {{
  driver = static
  args = uid={uid} gid={gid} home={mail}/%u
}}
namespace inbox {{
  inbox = yes
{folders}}}
service imap-login {{
  inet_listener imap {{
    address = {self.host}
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    address = {self.host}
    port = {self.imaps_port}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = {self.host}
    port = {self.lmtp_port}
  }}
}}
service imap {{
  process_limit = 1024
}}
# No auth penalty: otherwise a wrong-password test slows the next login from 127.0.0.1 by
# ~4 s. Auth skips the penalty silently when it cannot reach this socket.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""
        self.config_path.write_text(config, encoding="utf-8")

    def _oauth2_passdb(self, etc: Path) -> str:
        if not self.oauth2_introspection_url:
            return ""
        (etc / "oauth2.conf").write_text(
            f"introspection_mode = post\n"
            f"introspection_url = {self.oauth2_introspection_url}\n"
            "username_attribute = email\n",
            encoding="utf-8",
        )
        # No auth cache: it would accept a token after it expired or was revoked.
        return f"""auth_cache_size = 0
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {etc / "oauth2.conf"}
}}
"""

    def _stop_stale_instance(self) -> None:
        """Kill a master left running from this directory by a process that died (the demo
        killed with SIGKILL, say), which would otherwise hold the ports and the pid file."""
        pid_file = self._run_dir() / "master.pid"
        try:
            pid = int(pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            pid_file.unlink(missing_ok=True)
            return
        if str(self.config_path).encode() in cmdline:
            with contextlib.suppress(ProcessLookupError):
                if os.getpgid(pid) == pid:
                    kill_group(pid)  # the master and its children
                else:
                    os.kill(pid, signal.SIGKILL)
        pid_file.unlink(missing_ok=True)

    def _launch(self, binary: str, timeout: float) -> bool:
        stderr_path = self.root / "log" / "dovecot.stderr"
        with open(stderr_path, "wb") as stderr:
            # -F keeps the master as our child; its own session makes the group easy to kill.
            self._proc = subprocess.Popen(
                [binary, "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,
            )
        proc = self._proc
        finished = wait_until(lambda: proc.poll() is not None or self._greets(), timeout)
        self._exit_status = proc.poll()
        if finished and self._exit_status is None:
            return True
        self.stop(kill=True)
        return False

    def _greets(self) -> bool:
        try:
            with socket.create_connection((self.host, self.imap_port), timeout=1) as sock:
                greeted = sock.recv(64).startswith(b"* OK")
                sock.sendall(b"a LOGOUT\r\n")  # a polite goodbye keeps the log free of resets
                return greeted
        except OSError:
            return False

    def _failure_text(self) -> str:
        return (
            f"--- {self.root / 'log' / 'dovecot.stderr'}\n"
            f"{tail(self.root / 'log' / 'dovecot.stderr')}\n"
            f"--- {self.log_path}\n{tail(self.log_path)}"
        )


@atexit.register
def _stop_all() -> None:
    # Safety net for interrupted runs: never leave an instance behind.
    for instance in list(_running):
        with contextlib.suppress(Exception):
            instance.stop(kill=True)


__all__ = ["DEFAULT_USERS", "DOMAIN", "Dovecot", "DovecotError", "find_dovecot"]
