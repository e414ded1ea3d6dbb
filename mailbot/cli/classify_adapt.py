"""`mailbot classify adapt`: learn this organisation's own complaints (classifiers/adapt.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


@click.command("adapt")
@click.option(
    "--from-database",
    is_flag=True,
    help="Learn from the staff's triage decisions stored in the configured database.",
)
@click.option(
    "--from-csv",
    "csv_files",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    multiple=True,
    help="Labelled text: a CSV with columns text,label (complaint / compliment / enquiry, or "
    "1 = complaint, 0 = not), as `classify eval` reads, or triage JSONL. Repeatable.",
)
@click.option(
    "--kind",
    type=click.Choice(["accurate", "spacy"]),
    default="accurate",
    show_default=True,
    help="The kind to adapt. 'spacy' is retrained instead: `classify train --from-database`.",
)
@click.option("--reset", is_flag=True, help="Remove the adapted head: back to the shipped one.")
@click.option(
    "--tolerance",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="How much worse on the check set the guard allows (default: the config's "
    "classifier.adapt_tolerance, 0.02).",
)
@click.option(
    "--check-limit",
    type=click.IntRange(min=10),
    default=None,
    help="Guard on an evenly spread N rows of the check set (quicker, less sure); default: "
    "all 709.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.pass_obj
def adapt(
    obj: Any,
    from_database: bool,
    csv_files: tuple[Path, ...],
    kind: str,
    reset: bool,
    tolerance: float | None,
    check_limit: int | None,
    as_json: bool,
) -> None:
    """Refit the accurate classifier's head on this organisation's own labelled messages.

    \b
    A cheap refit (seconds, once the texts are embedded at ~10/s) of the 3 x 768 head and
    its temperature over the fine-tuned encoder, pulled toward the shipped head so a few
    dozen examples cannot wreck it. A guard scores it and the shipped head on the built-in
    check set and refuses to install it (exit code 1, the previous model kept) when it is
    worse by more than the tolerance. The adapted head is kept in the config's
    classifier.adapt_dir and used by `classify`, `classify eval` and the worker (compare
    with --no-adapted). `not_complaint` labels count as enquiry.
    \b
    Examples:
      mailbot classify adapt --from-csv our-history.csv
      mailbot --config mailbot.toml classify adapt --from-database
      mailbot classify eval held-out.csv --kind accurate            # uses the adapted head
      mailbot classify eval held-out.csv --kind accurate --no-adapted
      mailbot classify adapt --reset
    """
    settings = _settings(obj)
    folder = settings.adapt_dir
    if kind == "spacy":
        raise click.UsageError(
            "--kind spacy: the default kind is retrained, not adapted: mailbot classify train "
            "--from-database --out DIR, then [classifier] model_path = DIR"
        )
    from mailbot.classifiers.adapt import (
        ADAPTED_FILE,
        AdaptError,
        AdaptRefused,
        adapt_installation,
    )
    from mailbot.classifiers.adapt import (
        reset as remove,
    )

    if reset:
        if from_database or csv_files:
            raise click.UsageError("--reset removes the adapted head; give it no examples")
        path = folder / ADAPTED_FILE
        click.echo(
            f"removed {path}: the shipped head is used again"
            if remove(folder)
            else f"nothing to remove: no adapted head at {path}"
        )
        return
    if not from_database and not csv_files:
        raise click.UsageError("give --from-csv FILE and/or --from-database (or --reset)")
    echo = (lambda _: None) if as_json else click.echo
    try:
        examples = _examples(obj, csv_files, from_database, echo)
        outcome = adapt_installation(examples, settings, tolerance, check_limit, echo)
    except AdaptRefused as exc:
        _show(exc.outcome, as_json)
        raise click.ClickException(str(exc)) from None
    except AdaptError as exc:
        raise click.ClickException(str(exc)) from None
    _show(outcome, as_json)


def _settings(obj: Any) -> Any:
    """The config's [classifier] section, or the defaults without a config."""
    from mailbot.classifiers import ClassifierSettings

    settings = getattr(getattr(obj, "config", None), "classifier", None)
    return settings if isinstance(settings, ClassifierSettings) else ClassifierSettings()


def _examples(
    obj: Any, csv_files: tuple[Path, ...], from_database: bool, echo: Any
) -> list[tuple[str, Any]]:
    from mailbot.classifiers.adapt import AdaptError
    from mailbot.classifiers.corpus import read_feedback

    rows: list[tuple[str, Any]] = []
    try:
        for path in csv_files:
            found = read_feedback(path)
            echo(f"{len(found)} labelled text(s) from {path}")
            rows += [(r.text, r.label) for r in found]
        if from_database:
            rows += _triage_decisions(obj, echo)
    except (ValueError, KeyError) as exc:
        raise AdaptError(f"cannot read the labelled text: {exc}") from None
    return rows


def _triage_decisions(obj: Any, echo: Any) -> list[tuple[str, Any]]:
    """The staff's triage decisions in the configured database (the latest per text)."""
    from mailbot.app import open_database
    from mailbot.cases.learning import triage_examples

    db = open_database(obj.config)
    try:
        found, _ = triage_examples(db)
    finally:
        db.dispose()
    echo(f"{len(found)} triage decision(s) from the database")
    return found


def _show(outcome: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(outcome.as_dict(), indent=2))
        return
    counts = ", ".join(f"{n} {label}" for label, n in outcome.counts.items())
    click.echo(
        f"adapted on {outcome.n_examples} distinct text(s) ({counts}): prior strength "
        f"{outcome.strength:g}, temperature {outcome.temperature:.2f}, complaint threshold "
        f"{outcome.threshold:.2f}"
    )
    if outcome.cv is not None:
        cv = outcome.cv
        click.echo(
            f"cross-validated on your examples: complaint precision {cv.precision:.3f} "
            f"recall {cv.recall:.3f} F1 {cv.f1:.3f}, macro-F1 {cv.macro_f1:.3f}"
        )
    before, after = outcome.check_shipped, outcome.check_adapted
    click.echo(
        f"built-in check set ({before.n} rows): shipped complaint F1 {before.f1:.3f} "
        f"macro-F1 {before.macro_f1:.3f}; adapted complaint F1 {after.f1:.3f} macro-F1 "
        f"{after.macro_f1:.3f} (tolerance {outcome.tolerance:g})"
    )
    if outcome.installed:
        click.echo(f"installed {outcome.path} (remove with: mailbot classify adapt --reset)")
