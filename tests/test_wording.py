"""Every event kind the code records reads as a sentence, and a case's status has one word,
in the web UI and on the command line alike (mailbot.cases.wording)."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from types import SimpleNamespace
from typing import get_args

import pytest
from sqlalchemy import select
from web_support import seed_case, web_config

from mailbot.app import open_database
from mailbot.cases import wording
from mailbot.cases.wording import describe_event, known_event_kinds, status_word
from mailbot.cli.cases import format_case_line
from mailbot.db.models import Case
from mailbot.mail.loopguard import Kind
from mailbot.procedure.lifecycle import Status
from mailbot.render import Renderer

PACKAGE = Path(__file__).resolve().parent.parent / "mailbot"
IDENTIFIER = re.compile(r"^[a-z]+(_[a-z]+)+$")


def _name(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _strings(node: ast.expr | None) -> list[str]:
    """String constants an expression can evaluate to (`"a"`, `x or "a"`, `"a" if c else "b"`)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.BoolOp):
        return [s for value in node.values for s in _strings(value)]
    if isinstance(node, ast.IfExp):
        return _strings(node.body) + _strings(node.orelse)
    return []


def _suffix(node: ast.expr | None) -> str | None:
    """`f"{kind}_queued"` → "_queued" (also inside `event or f"..."`)."""
    if isinstance(node, ast.BoolOp):
        return next((s for s in map(_suffix, node.values) if s), None)
    if isinstance(node, ast.JoinedStr) and isinstance(node.values[-1], ast.Constant):
        tail = str(node.values[-1].value)
        return tail if re.fullmatch(r"_[a-z]+", tail) else None
    return None


def _recorded() -> tuple[set[str], set[str], set[str]]:
    """(literal event kinds, suffixes of built kinds, letter kinds) found in mailbot/."""
    kinds: set[str] = set()
    suffixes: set[str] = set()
    letters: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            # Kinds chosen before the call: `kind = "a" if x else "b"`, `event = f"{k}_sent"`.
            if isinstance(node, ast.Assign) and any(
                getattr(t, "id", "") in ("event", "kind") for t in node.targets
            ):
                kinds.update(s for s in _strings(node.value) if IDENTIFIER.match(s))
                if _suffix(node.value):
                    suffixes.add(str(_suffix(node.value)))
            # Events written as rows by statements (the sender): {"kind": f"{k}_sent", …}.
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "kind" and _suffix(value):
                        suffixes.add(str(_suffix(value)))
            if not isinstance(node, ast.Call):
                continue
            name = _name(node.func)
            args = node.args
            if name == "record_event" and len(args) >= 3:
                kinds.update(_strings(args[2]))
                if _suffix(args[2]):
                    suffixes.add(str(_suffix(args[2])))
            elif name == "transition" and len(args) >= 4:  # casefile.transition(…, kind, …)
                kinds.update(_strings(args[3]))
            elif name == "run" and args:  # casework's local transition helper
                kinds.update(s for s in _strings(args[0]) if IDENTIFIER.match(s))
            elif name == "letter" and len(args) >= 4:  # jobs: self.letter(…, template, …)
                letters.update(_strings(args[3]))
            for keyword in node.keywords:
                if keyword.arg == "event":
                    kinds.update(_strings(keyword.value))
                elif keyword.arg == "kind" and name in ("queue_letter", "letter"):
                    letters.update(_strings(keyword.value))
    return kinds, suffixes, letters


def test_every_event_kind_the_code_records_has_a_sentence() -> None:
    kinds, suffixes, letters = _recorded()
    assert {"message_received", "copy_received", "compliment_forward_skipped"} <= kinds
    assert suffixes == {"_queued", "_sent", "_suppressed", "_received"}, suffixes
    letters |= set(
        Renderer().names()
    )  # every letter template (queue_outcome_letter: kind=template)
    automatic = set(get_args(Kind)) - {"human"}
    built = {
        f"{letter}{suffix}" for letter in letters for suffix in ("_queued", "_sent", "_suppressed")
    }
    built |= {f"{verdict}_received" for verdict in automatic}
    missing = sorted((kinds | built) - known_event_kinds())
    assert missing == [], f"event kinds with no sentence in mailbot/cases/wording.py: {missing}"
    for kind in sorted(kinds | built):
        sentence = describe_event(kind, {}, "pat@example.net", {})
        assert sentence[0].isupper(), (kind, sentence)
        assert not IDENTIFIER.match(kind) or kind not in sentence, (kind, sentence)


def test_sentences_say_what_happened_with_the_details() -> None:
    boxes = {"info": "info@example.org"}
    assert (
        describe_event("compliment_forward_skipped", {"reason": "no service manager address"})
        == "Compliment not forwarded to a service manager: no service manager address"
    )
    assert describe_event("copy_received", {"mailbox": "info"}, "mailbot", boxes) == (
        "The same email also received at info@example.org (kept once)"
    )
    assert describe_event("status_changed", {"was": "open", "now": "on_hold"}) == (
        "Status changed from open to on hold"
    )
    assert describe_event("acknowledgement_sent", {"to": "pat@example.net"}) == (
        "Acknowledgement sent to pat@example.net"
    )
    assert describe_event("auto_reply_received", {}, "pat@example.net") == (
        "Automatic reply received from pat@example.net"
    )
    # A kind a newer worker records still reads as words.
    assert describe_event("some_new_thing") == "Some new thing"


def test_one_word_per_status_everywhere() -> None:
    assert set(wording.STATUSES) == set(get_args(Status))
    assert status_word("on_hold") == "on hold" and status_word("open") == "open"


def test_the_demo_prints_the_case_log_in_the_words_of_mailbot_cases(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mailbot.cli import demo

    db = open_database(web_config(f"sqlite:///{tmp_path / 'demo.db'}"))
    ref = seed_case(db)
    with db.transaction() as session:
        case = session.scalars(select(Case).where(Case.reference == ref)).one()
        case.acknowledged_at = case.received_at
        expected = format_case_line(case)
    demo._show(SimpleNamespace(db=db), tmp_path, tmp_path / "x", since=0)  # type: ignore[arg-type]
    db.dispose()
    printed = capsys.readouterr().out
    assert expected in printed and "acknowledged" not in printed
