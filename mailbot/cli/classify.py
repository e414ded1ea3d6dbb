"""`mailbot classify`: classify a text, measure the classifier on a CSV, or retrain it."""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import click

from mailbot.classifiers import KINDS, SHIPPED_MODEL, ClassifierSettings, load_classifier
from mailbot.classifiers.base import Classification, Classifier, Inbound
from mailbot.cli.classify_adapt import adapt


class ClassifyGroup(click.Group):
    """`mailbot classify "TEXT"` classifies; `mailbot classify eval|train ...` run subcommands.

    Click cannot mix an optional argument with subcommands, so anything that is not a
    subcommand name (or --help) is handed to the hidden `text` command.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["text", *args]
        return super().parse_args(ctx, args)


def _settings(obj: Any) -> ClassifierSettings:
    """The `[classifier]` config section, or defaults when run without a config."""
    config = getattr(obj, "config", None) if obj is not None else None
    settings = getattr(config, "classifier", None)
    return settings if isinstance(settings, ClassifierSettings) else ClassifierSettings()


def _with_overrides(
    settings: ClassifierSettings, kind: str | None, model: Path | None, no_adapted: bool = False
) -> ClassifierSettings:
    changes: dict[str, Any] = {}
    if no_adapted:
        changes["use_adapted"] = False
    if kind:
        changes["kind"] = kind
    if model:
        changes["model_path"] = model
    return settings.model_copy(update=changes) if changes else settings


F = TypeVar("F", bound=Callable[..., Any])


def classifier_options(command: F) -> F:
    """--kind, --model and --no-adapted, overriding the config's [classifier] for one run."""
    command = click.option(
        "--no-adapted",
        is_flag=True,
        help="Kind 'accurate': use the shipped head, not the one `classify adapt` installed.",
    )(command)
    command = click.option(
        "--model", type=click.Path(path_type=Path, file_okay=False), help="Model directory."
    )(command)
    return click.option("--kind", type=click.Choice(KINDS), help="Override the classifier.")(
        command
    )


def _load(settings: ClassifierSettings) -> Classifier:
    try:
        return load_classifier(settings)
    except Exception as exc:  # one line for people, not a traceback
        raise click.ClickException(str(exc)) from None


@click.group(
    cls=ClassifyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
)
def classify() -> None:
    """Is a message a complaint? Classify text, evaluate on a CSV, or retrain.

    \b
    Examples:
      mailbot classify "Still no refund and nobody replies to my emails."
      mailbot classify --json --subject "Order 123" "Third time I've asked..."
      echo "Thanks, all sorted!" | mailbot classify -
      mailbot classify eval labelled.csv              # columns text,label (1 = complaint)
      mailbot classify eval labelled.csv --json --kind rules
      mailbot classify train --feedback triage.jsonl  # rebuild the shipped model
      mailbot classify adapt --from-csv ours.csv       # learn your own mail (kind accurate)

    Prints the label (complaint / compliment / enquiry), its calibrated probability, the
    evidence (the words that made it so) and the flags the procedures need: urgent,
    legal_threat, names_staff, vip, on_behalf, appeal. Thresholds, the staff directory and
    the VIP list come from the [classifier] section of the config.
    """


@classify.command("text", hidden=True)
@click.argument("words", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option("--subject", default="", help="The email's subject line.")
@click.option("--sender", default="", help="The sender's address (for the VIP flag).")
@classifier_options
@click.pass_obj
def classify_text(
    obj: Any,
    words: tuple[str, ...],
    as_json: bool,
    subject: str,
    sender: str,
    kind: str | None,
    model: Path | None,
    no_adapted: bool,
) -> None:
    """Classify TEXT ("-" reads standard input)."""
    text = sys.stdin.read() if words == ("-",) else " ".join(words)
    classifier = _load(_with_overrides(_settings(obj), kind, model, no_adapted))
    result = classifier.classify(Inbound(text=text, subject=subject, sender=sender))
    if as_json:
        click.echo(json.dumps(classification_dict(result), ensure_ascii=False, indent=2))
    else:
        click.echo(format_classification(result))


def classification_dict(result: Classification) -> dict[str, Any]:
    return {
        "label": result.label,
        "score": result.score,
        "classifier": result.classifier,
        "reasons": [asdict(e) for e in result.reasons],
        "flags": {k: [asdict(e) for e in v] for k, v in result.flags.items() if v},
    }


def format_classification(result: Classification) -> str:
    lines = [f"{result.label}  {result.score:.2f}  ({result.classifier})"]
    if result.reasons:
        lines.append("why:")
        lines += [f'  "{e.text}"  {e.why}' for e in result.reasons]
    flags = {k: v for k, v in result.flags.items() if v}
    if flags:
        lines.append("flags:")
        for name, evidence in flags.items():
            shown = "; ".join(f'"{e.text}" ({e.why})' for e in evidence)
            lines.append(f"  {name}: {shown}")
    return "\n".join(lines)


@classify.command("eval")
@click.argument(
    "csv_file", metavar="FILE.csv", type=click.Path(path_type=Path, dir_okay=False, exists=True)
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option(
    "--domain-column",
    default="domain",
    show_default=True,
    help="Column naming each row's domain; rows whose domain starts with 'random_' "
    "are left out of the customer-service figures.",
)
@classifier_options
@click.pass_obj
def classify_eval(
    obj: Any,
    csv_file: Path,
    as_json: bool,
    domain_column: str,
    kind: str | None,
    model: Path | None,
    no_adapted: bool,
) -> None:
    """Measure the classifier on FILE.csv (columns text,label; label 1 = complaint).

    \b
    Prints precision, recall and F1 of the complaint class, macro-F1, accuracy, the
    confusion matrix and texts/second; again for customer-service rows alone when the file
    has a domain column; then the shipped complaint threshold with its precision and recall,
    and the recall at precision 0.8 (threshold-free, from the probabilities). Measure only:
    never pick thresholds by this score.
    \b
    Example:
      mailbot classify eval ../shared/classifier-eval/complaints-dev.csv
    """
    from mailbot.classifiers.corpus import read_eval_csv
    from mailbot.classifiers.evaluate import evaluate, format_operating_point, format_report

    try:
        rows = read_eval_csv(csv_file, domain_column)
    except (ValueError, KeyError) as exc:
        raise click.ClickException(str(exc)) from None
    if not rows:
        raise click.ClickException(f"{csv_file}: no rows")
    classifier = _load(_with_overrides(_settings(obj), kind, model, no_adapted))
    result = evaluate(classifier, rows)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    click.echo(f"classifier: {result.classifier}")
    click.echo(format_report("all rows", result.all))
    if result.customer_service is not None:
        click.echo(format_report("customer-service rows", result.customer_service))
    operating = format_operating_point(result)
    if operating:
        click.echo(operating)
    click.echo(
        f"speed: {result.texts_per_second:.0f} texts/second ({len(rows)} texts, "
        f"{result.seconds:.2f} s, model already loaded)"
    )


def _triage_feedback(obj: Any, path: Path, echo: Callable[[str], None]) -> Path:
    """The triage decisions in the configured database, as a feedback file."""
    from mailbot.app import open_database
    from mailbot.cases.feedback import export_jsonl

    db = open_database(obj.config)
    try:
        with db.transaction() as session:
            lines = list(export_jsonl(session))
    finally:
        db.dispose()
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    echo(f"{len(lines)} triage decision(s) from the database")
    return path


@classify.command("train")
@click.option(
    "--feedback",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    multiple=True,
    help="Extra labelled examples (JSONL or CSV), e.g. staff triage "
    "decisions. Repeatable. The config's classifier.feedback_path is always included.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=SHIPPED_MODEL,
    show_default="the shipped model",
    help="Where to write the model.",
)
@click.option(
    "--variant",
    type=click.Choice(["cuebow", "bow", "ensemble"]),
    default="cuebow",
    show_default=True,
    help="Model design (the alternatives compared in classifiers/README.md).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--real",
    "real_caps",
    default="",
    metavar="CAPS",
    help="Add real labelled text from ../shared/training-corpora: 'shipped' (the mix the "
    "shipped accurate model used), 'all', or GROUP=N,... (classifiers/realtext.py).",
)
@click.option(
    "--sentence-model",
    is_flag=True,
    help="Also fine-tune the sentence encoder used by kind 'spacy+minilm' "
    "(needs: pip install 'mailbot[sentence]'; about 15 minutes on one core).",
)
@click.option(
    "--from-database",
    is_flag=True,
    help="Also learn from the staff's triage decisions (confirm / not a complaint) stored in "
    "the configured database.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def classify_train(
    obj: Any,
    feedback: tuple[Path, ...],
    out: Path,
    variant: str,
    seed: int,
    real_caps: str,
    sentence_model: bool,
    from_database: bool,
    as_json: bool,
) -> None:
    """Retrain the classifier from the project's corpus plus FEEDBACK files.

    \b
    Feedback format, one JSON object per line:
      {"text": "...", "label": "complaint|compliment|enquiry", "source": "triage"}
    Reproducible: same corpus, feedback and seed give the same model.
    \b
    Examples:
      mailbot classify train
      mailbot classify train --feedback var/triage.jsonl --out var/model
      mailbot --config mailbot.toml classify train --from-database --out var/model
      mailbot classify train --sentence-model          # for kind = "spacy+minilm"
      mailbot classify train --real shipped --out var/model   # as the shipped model
    """
    from mailbot.classifiers.train import TrainConfig, train

    settings = _settings(obj)
    files = list(feedback)
    if settings.feedback_path and settings.feedback_path.exists():
        files.append(settings.feedback_path)
    echo = (lambda _: None) if as_json else click.echo
    if sentence_model:
        from mailbot.classifiers.sentence import (
            INSTALL_HINT,
            SentenceEncoderMissing,
            load_encoder,
        )

        try:
            load_encoder()
        except SentenceEncoderMissing:
            raise click.UsageError(
                f"--sentence-model needs the sentence encoder: {INSTALL_HINT}"
            ) from None
    if real_caps:
        from mailbot.classifiers.realtext import parse_caps

        try:
            parse_caps(real_caps)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--real") from None
    config = TrainConfig(
        variant=variant, seed=seed, sentence_model=sentence_model, real_caps=real_caps
    )
    with tempfile.TemporaryDirectory(prefix="mailbot-feedback-") as scratch:
        if from_database:
            files.append(_triage_feedback(obj, Path(scratch) / "triage.jsonl", echo))
        report = train(out, feedback=files, config=config, echo=echo)
    summary = {
        "out": str(report.out),
        "n_train": report.n_train,
        "n_feedback": report.n_feedback,
        "best_epoch": report.best_epoch,
        "temperature": report.temperature,
        "test": report.test,
        "test_with_sentence_model": report.test_with_sentence_model,
        "seconds": report.seconds,
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    test = report.test
    click.echo(
        f"wrote {report.out} ({report.n_train} training examples, "
        f"{report.n_feedback} from feedback) in {report.seconds:.0f} s"
    )
    click.echo(
        f"held-out test split: macro-F1 {test['macro_f1']:.3f}, accuracy {test['accuracy']:.3f}"
    )
    if report.test_with_sentence_model:
        both = report.test_with_sentence_model
        click.echo(
            f"  with the sentence model (spacy+minilm): macro-F1 {both['macro_f1']:.3f}, "
            f"accuracy {both['accuracy']:.3f}"
        )
    if out.resolve() != SHIPPED_MODEL.resolve():
        click.echo(f'use it with  [classifier] model_path = "{out}"')


classify.add_command(adapt)  # mailbot/cli/classify_adapt.py
