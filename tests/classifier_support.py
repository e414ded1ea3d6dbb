"""Shared by the classifier tests: settings with a staff directory, and an offline run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mailbot.classifiers import ClassifierSettings, StaffEntry
from mailbot.classifiers.data.generate import DEMO_STAFF

SETTINGS = ClassifierSettings(
    staff=(*(StaffEntry(name=n) for n in DEMO_STAFF), StaffEntry(name="Will Turner")),
    vip_senders=("dean@uni.example.ac.uk", "council.example.gov.uk"),
    urgent_keywords=("Supportworks",),
)


def classify_without_network(home: Path, settings: str, text: str, **env: str) -> str:
    """Run `load_classifier(ClassifierSettings(settings)).classify(text)` in a fresh interpreter
    whose sockets cannot connect; its output is "NAME LABEL"."""
    code = (
        "import socket\n"
        "def no_net(*a, **k):\n"
        "    raise OSError('network disabled in this test')\n"
        "socket.socket.connect = no_net\n"
        "socket.create_connection = no_net\n"
        "from mailbot.classifiers import ClassifierSettings, load_classifier\n"
        "from mailbot.classifiers.base import Inbound\n"
        f"c = load_classifier(ClassifierSettings({settings}))\n"
        f"print(c.name, c.classify(Inbound({text!r})).label)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(home), **env},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()
