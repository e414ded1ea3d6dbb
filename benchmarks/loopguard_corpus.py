"""The loop guard and the parser against every real-world message in ../shared/corpora.

Prints how many files were read and parsed (and parser exceptions: must be 0), how many known
bounces and RFC 3834 auto-replies the loop guard recognises, and the number that matters most:
automatic replies Mailbot would have sent to known automatic mail (must be 0).

Labels come from the corpora themselves: sisimai names its files lhost-*/rhost-*/rfc3464-*
(bounces), rfc3834-* (auto-replies) and arf-* (complaint reports); flufl_bounce/data and
flanker's bounce/ folder hold bounces; a few other fixtures are named for what they are.

    python benchmarks/loopguard_corpus.py [CORPORA_DIR] [--verbose]
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mailbot.mail.loopguard import assess
from mailbot.mail.parse import parse_message

DEFAULT_CORPORA = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpora"
OWN_ADDRESSES = ("support@mailbot.example",)
_METADATA = (".tsv", ".md")


@dataclass
class Report:
    files: int = 0
    parsed: int = 0
    exceptions: list[str] = field(default_factory=list)
    bounce_files: Counter[str] = field(default_factory=Counter)  # by corpus
    bounces_recognised: Counter[str] = field(default_factory=Counter)
    auto_reply_files: int = 0
    auto_replies_recognised: int = 0
    automatic_files: int = 0  # every file known to be automatic mail
    acks_sent: list[str] = field(default_factory=list)  # automatic mail judged "human"
    misses: list[str] = field(default_factory=list)
    other_kinds: Counter[str] = field(default_factory=Counter)  # unlabelled files, by verdict
    with_original_id: int = 0  # recognised bounces that name the Message-ID that bounced
    with_failed_recipient: int = 0
    flufl_expected: int = 0  # flufl.bounce's own answers: failed addresses per file
    flufl_found: int = 0
    seconds: float = 0.0


def label(relative: str) -> str:
    """What a corpus file is known to be: bounce, auto_reply, automatic, or unknown."""
    name = relative.rsplit("/", 1)[-1]
    if relative.startswith("sisimai_set_of_emails/maildir/"):
        if name.startswith(("lhost-", "rhost-", "rfc3464-")):
            return "bounce"
        if name.startswith("rfc3834-"):
            return "auto_reply"
        if name.startswith("arf-"):
            return "automatic"  # complaint (feedback) reports
    if relative.startswith(
        (
            "flufl_bounce/data/",
            "flanker_fixtures/messages/bounce/",
            "ruby_mail_fixtures/emails/multipart_report_emails/",
        )
    ):
        return "bounce"
    if relative == "discourse_receiver_subset/bounced_email.eml":
        return "bounce"
    if relative.startswith("discourse_receiver_subset/auto_") or relative.endswith(
        "flanker_fixtures/messages/disposition-notification.eml"
    ):
        return "automatic"
    return "unknown"


def _flufl_expected(corpora: Path) -> dict[str, tuple[str, ...]]:
    """flufl.bounce's table of the addresses each of its sample bounces reports."""
    table = corpora / "flufl_bounce" / "EXPECTED_from_detectors_py.tsv"
    found: dict[str, tuple[str, ...]] = {}
    if table.exists():
        for line in table.read_text("utf-8").splitlines()[1:]:
            columns = line.split("\t")
            if len(columns) >= 3:
                addresses = re.findall(r"b'([^']+)'", columns[2])
                found[f"flufl_bounce/data/{columns[1]}"] = tuple(a.lower() for a in addresses)
    return found


def corpus_files(corpora: Path) -> list[Path]:
    return sorted(
        p
        for p in corpora.rglob("*")
        if p.is_file()
        and p.suffix not in _METADATA
        and not p.name.startswith(("LICENSE", "README", ".git"))
    )


def run(corpora: Path) -> Report:
    report = Report()
    flufl = _flufl_expected(corpora)
    started = time.perf_counter()
    for path in corpus_files(corpora):
        relative = path.relative_to(corpora).as_posix()
        report.files += 1
        try:
            msg = parse_message(path.read_bytes())
        except Exception as exc:  # the whole point is to count these
            report.exceptions.append(f"{relative}: {type(exc).__name__}: {exc}")
            continue
        report.parsed += 1
        verdict = assess(msg, OWN_ADDRESSES)
        kind = label(relative)
        corpus = relative.split("/", 1)[0]
        if kind == "bounce":
            report.bounce_files[corpus] += 1
            if verdict.kind == "bounce":
                report.bounces_recognised[corpus] += 1
                report.with_original_id += bool(verdict.original_message_ids)
                report.with_failed_recipient += bool(verdict.failed_recipients)
                expected = flufl.get(relative, ())
                report.flufl_expected += len(expected)
                report.flufl_found += sum(a in verdict.failed_recipients for a in expected)
            else:
                report.misses.append(f"{relative}: {verdict.kind} ({verdict.reason})")
        elif kind == "auto_reply":
            report.auto_reply_files += 1
            if verdict.kind == "auto_reply":
                report.auto_replies_recognised += 1
            else:
                report.misses.append(f"{relative}: {verdict.kind} ({verdict.reason})")
        else:
            report.other_kinds[f"{kind}:{verdict.kind}"] += 1
        if kind != "unknown":
            report.automatic_files += 1
            if verdict.kind == "human":
                report.acks_sent.append(relative)
    report.seconds = time.perf_counter() - started
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpora", nargs="?", type=Path, default=DEFAULT_CORPORA)
    parser.add_argument("--verbose", action="store_true", help="list misses and exceptions")
    args = parser.parse_args()
    if not args.corpora.is_dir():
        print(f"corpora not found: {args.corpora}", file=sys.stderr)
        return 2
    logging.disable(logging.WARNING)  # mail-parser logs every oddity it meets
    report = run(args.corpora)
    bounces = sum(report.bounce_files.values())
    recognised = sum(report.bounces_recognised.values())
    print(f"corpora: {args.corpora.resolve()} ({report.seconds:.1f} s)")
    print(
        f"files read: {report.files}, parsed: {report.parsed}, "
        f"parser exceptions: {len(report.exceptions)}"
    )
    print(f"bounces recognised: {recognised}/{bounces}")
    for corpus, total in sorted(report.bounce_files.items()):
        print(f"  {corpus}: {report.bounces_recognised[corpus]}/{total}")
    print(
        f"  of those, naming the bounced Message-ID: {report.with_original_id}, "
        f"naming failed recipients: {report.with_failed_recipient}; flufl.bounce's expected "
        f"failed addresses found: {report.flufl_found}/{report.flufl_expected}"
    )
    print(
        f"auto-replies recognised (sisimai rfc3834-*): "
        f"{report.auto_replies_recognised}/{report.auto_reply_files}"
    )
    print(
        f"automatic replies that would have gone out, among {report.automatic_files} known "
        f"bounce/auto-reply/report files: {len(report.acks_sent)}"
    )
    others = ", ".join(f"{k}={v}" for k, v in sorted(report.other_kinds.items()))
    print(f"other files by label:verdict: {others}")
    if args.verbose:
        for line in report.exceptions + report.misses:
            print(f"  miss/exception: {line}")
        for line in report.acks_sent:
            print(f"  would answer: {line}")
    return 1 if report.exceptions or report.acks_sent else 0


if __name__ == "__main__":
    raise SystemExit(main())
