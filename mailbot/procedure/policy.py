"""A complaints policy: the organisation's promises as a validated, frozen model.

A policy is TOML with every key under a `[policy]` table, so the same text works as its own
file (`examples/policies/*.toml`) or as the `[policy]` section of the Mailbot config. Every key
has a default and a help string; `Policy()` with no file is Mailbot's default policy: the
priority table of the Xpertex procedure (seed 001: urgent 3/14, medium 4/21, minor 5/28 working
days to acknowledge/resolve), a 3-working-day frontline decision and a 20-working-day
investigation (seed 004), an appeal acknowledged in 5 and decided in 20 working days, lodged
within 14 working days of the outcome, and a holding letter after 20 working days (seed 001).

Durations are written as a whole number of working days (`3`) or as a string with a unit:
`"3 working days"`, `"4 working hours"`, `"28 days"` (calendar days), `"8 weeks"`; `"none"`
means the policy sets no deadline. What each unit means is defined in `mailbot.procedure.sla`.

A mistake becomes one `PolicyError` line naming the key path and the fix, e.g.
`policy.priorities.urgent.acknowledge_within: must be a whole number of working days ≥ 0 (or
"4 working hours", "28 days", "8 weeks", "none"), got "three"`; an unknown key names the
closest valid one.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)

from mailbot.procedure.calendar import WorkingCalendar, country_codes, subdivisions_of
from mailbot.procedure.retention import RetentionPeriod
from mailbot.settings_errors import SettingsError, problem_lines, rule, show_value

__all__ = [
    "STAGES",
    "AppealStage",
    "CalendarSettings",
    "Categories",
    "CategoryName",
    "CategoryRule",
    "Duration",
    "HoldingLetter",
    "LogField",
    "Policy",
    "PolicyError",
    "PriorityGrade",
    "Reminders",
    "Retention",
    "StageName",
    "StageRule",
    "Stages",
    "load_policy",
    "policy_from_mapping",
]

StageName = Literal["frontline", "investigation", "appeal"]
STAGES: tuple[StageName, ...] = ("frontline", "investigation", "appeal")
CategoryName = Literal["complaint", "concern", "compliment", "enquiry"]
Unit = Literal["working_days", "working_hours", "days", "weeks"]


class PolicyError(SettingsError, ValueError):
    """A mistake in a policy. str() is one line: `[source: ]key.path: what is wrong and the fix`.

    `problems` holds every mistake found (each one line); str() shows the first and a count,
    `lines()` every one (see `mailbot.settings_errors`).
    """


# ---- durations --------------------------------------------------------------------------

_UNIT_WORDS: dict[str, Unit] = {
    "wd": "working_days",
    "working day": "working_days",
    "working days": "working_days",
    "wh": "working_hours",
    "working hour": "working_hours",
    "working hours": "working_hours",
    "day": "days",
    "days": "days",
    "calendar day": "days",
    "calendar days": "days",
    "week": "weeks",
    "weeks": "weeks",
}
_DURATION_RE = re.compile(r"^\s*(\d+)\s*([a-z ]*?)\s*$", re.IGNORECASE)
_DURATION_HELP = (
    'must be a whole number of working days ≥ 0 (or "4 working hours", "28 days", "8 weeks", '
    '"none")'
)


@dataclass(frozen=True, order=True)
class Duration:
    """A length of time a policy promises something within, in one of four units."""

    amount: int
    unit: Unit = "working_days"

    def __post_init__(self) -> None:
        if self.amount < 0:
            raise ValueError(f"a duration cannot be negative, got {self.amount}")

    def __str__(self) -> str:
        words = {
            "working_days": "working day",
            "working_hours": "working hour",
            "days": "day",
            "weeks": "week",
        }[self.unit]
        return f"{self.amount} {words}{'' if self.amount == 1 else 's'}"

    def __add__(self, other: Duration) -> Duration:
        if not isinstance(other, Duration):
            return NotImplemented
        if other.unit != self.unit:
            raise ValueError(f"cannot add {other} to {self}: different units")
        return Duration(self.amount + other.amount, self.unit)

    def times(self, n: int) -> Duration:
        return Duration(self.amount * n, self.unit)

    @property
    def calendar_days(self) -> int:
        """Length in calendar days (only for the `days` and `weeks` units)."""
        return self.amount * 7 if self.unit == "weeks" else self.amount

    @property
    def hours(self) -> timedelta:
        return timedelta(hours=self.amount)

    @classmethod
    def parse(cls, value: object) -> Duration | None:
        """Read a duration from TOML: `3`, `"3 working days"`, `"4 working hours"`, `"none"`."""
        if value is None or isinstance(value, Duration):
            return value
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return cls(value)
        if isinstance(value, str):
            if value.strip().lower() in ("none", "not set", ""):
                return None
            match = _DURATION_RE.match(value)
            if match:
                unit = _UNIT_WORDS.get(match.group(2).lower()) if match.group(2) else "working_days"
                if unit:
                    return cls(int(match.group(1)), unit)
        raise ValueError(f"{_DURATION_HELP}, got {show_value(value)}")


def _validate_duration(value: object) -> Duration | None:
    return Duration.parse(value)


def _dump_duration(value: Duration | None) -> str:
    return "none" if value is None else str(value)


Within = Annotated[
    Duration | None,
    PlainValidator(_validate_duration),
    PlainSerializer(_dump_duration, return_type=str),
]


# TOML has real booleans: a quoted "yes" is a mistake worth reporting, not guessing.
Flag = Annotated[bool, Strict()]


def _wd(n: int) -> Duration:
    return Duration(n, "working_days")


def _validate_period(value: object) -> RetentionPeriod | None:
    return RetentionPeriod.parse(value)


def _dump_period(value: RetentionPeriod | None) -> str:
    return "none" if value is None else str(value)


Kept = Annotated[
    RetentionPeriod | None,
    PlainValidator(_validate_period),
    PlainSerializer(_dump_period, return_type=str),
]


# ---- the model --------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PriorityGrade(_Model):
    """One priority grade: how fast a case of this grade is acknowledged and resolved."""

    label: str = Field(
        default="", description="Name shown to staff, e.g. 'Urgent/Service Affecting'."
    )
    acknowledge_within: Within = Field(
        default=None, description="Acknowledge the complainant within this long of receipt."
    )
    resolve_within: Within = Field(
        default=None, description="Target resolution time, counted from receipt (holds pause it)."
    )

    @model_validator(mode="after")
    def _resolve_after_acknowledge(self) -> PriorityGrade:
        ack, res = self.acknowledge_within, self.resolve_within
        if ack is not None and res is not None and ack.unit == res.unit and res < ack:
            raise rule(
                f"must be at least acknowledge_within ({ack}), got {show_value(str(res))}",
                "resolve_within",
            )
        return self


def _seed_001_grades() -> dict[str, PriorityGrade]:
    # Seed 001 (Xpertex) §6.5 grading table.
    return {
        "urgent": PriorityGrade(
            label="Urgent/Service Affecting", acknowledge_within=_wd(3), resolve_within=_wd(14)
        ),
        "medium": PriorityGrade(
            label="Medium/High", acknowledge_within=_wd(4), resolve_within=_wd(21)
        ),
        "minor": PriorityGrade(
            label="Minor/Non-Service Affecting", acknowledge_within=_wd(5), resolve_within=_wd(28)
        ),
    }


class CategoryRule(_Model):
    """What happens to a message of one category."""

    label: str = Field(default="", description="Name shown to staff.")
    acknowledge: Flag = Field(default=True, description="Send the sender an acknowledgement.")
    acknowledge_within: Within = Field(
        default=None, description="Acknowledgement deadline; none: the priority grade's."
    )
    procedure: Flag = Field(
        default=True,
        description="Run the staged procedure: deadlines, reminders, escalation, appeal.",
    )
    copy_to: str = Field(default="", description="Role that gets a copy (e.g. 'service manager').")


class ComplaintRule(CategoryRule):
    label: str = Field(default="Complaint", description="Name shown to staff.")


class ConcernRule(CategoryRule):
    label: str = Field(default="Concern", description="Name shown to staff.")


class ComplimentRule(CategoryRule):
    label: str = Field(default="Compliment", description="Name shown to staff.")
    procedure: Flag = Field(
        default=False,
        description="Run the staged procedure: deadlines, reminders, escalation, appeal.",
    )


class EnquiryRule(CategoryRule):
    label: str = Field(default="Enquiry", description="Name shown to staff.")
    procedure: Flag = Field(
        default=False,
        description="Run the staged procedure: deadlines, reminders, escalation, appeal.",
    )


class Categories(_Model):
    """The four kinds of message Mailbot tells apart."""

    complaint: ComplaintRule = Field(
        default_factory=ComplaintRule, description="An expression of dissatisfaction."
    )
    concern: ConcernRule = Field(
        default_factory=ConcernRule, description="An informal worry, handled early."
    )
    compliment: ComplimentRule = Field(
        default_factory=ComplimentRule, description="An expression of satisfaction."
    )
    enquiry: EnquiryRule = Field(
        default_factory=EnquiryRule, description="A question or request for information."
    )


class StageRule(_Model):
    """One stage of the procedure and its deadlines, counted from the day the stage starts."""

    enabled: Flag = Field(default=True, description="Whether the procedure has this stage.")
    label: str = Field(default="", description="Name shown to staff and in letters.")
    acknowledge_within: Within = Field(
        default=None, description="Acknowledge a case entering this stage within this long."
    )
    respond_within: Within = Field(
        default=None,
        description="Decision or written response within this long of the stage start.",
    )


class FrontlineStage(StageRule):
    label: str = Field(
        default="Frontline resolution", description="Name shown to staff and in letters."
    )
    respond_within: Within = Field(
        default=_wd(3),
        description="Decision or written response within this long of the stage start.",
    )


class InvestigationStage(StageRule):
    label: str = Field(default="Investigation", description="Name shown to staff and in letters.")
    respond_within: Within = Field(
        default=_wd(20),
        description="Decision or written response within this long of the stage start.",
    )


class AppealStage(StageRule):
    label: str = Field(default="Appeal", description="Name shown to staff and in letters.")
    acknowledge_within: Within = Field(
        default=_wd(5), description="Acknowledge a case entering this stage within this long."
    )
    respond_within: Within = Field(
        default=_wd(20),
        description="Decision or written response within this long of the stage start.",
    )
    window: Within = Field(
        default=_wd(14),
        description="An appeal must be lodged within this long of the outcome; none: no limit.",
    )


class Stages(_Model):
    """Frontline → investigation → appeal; a policy may switch stages off."""

    frontline: FrontlineStage = Field(
        default_factory=FrontlineStage, description="Stage 1: quick resolution where it arrives."
    )
    investigation: InvestigationStage = Field(
        default_factory=InvestigationStage, description="Stage 2: a full investigation."
    )
    appeal: AppealStage = Field(
        default_factory=AppealStage, description="Stage 3: review of the investigation."
    )


class HoldingLetter(_Model):
    """A letter telling the complainant a stage is taking longer than usual."""

    stage: StageName = Field(
        default="investigation", description="The stage whose length is watched."
    )
    after: Within = Field(
        default=_wd(20), description="Send it when the stage has run this long; none: never."
    )


class Reminders(_Model):
    """Chasing the person handling an open case, and escalating when it stays open."""

    to: str = Field(default="referral manager", description="Who is chased (a role or a name).")
    first_after: Within = Field(
        default=_wd(5),
        description="First chase when the stage has run this long; none: no chasing.",
    )
    every: Within = Field(
        default=_wd(5), description="Then chase again this often (same unit); none: chase once."
    )
    escalate_after: Within = Field(
        default=_wd(10), description="Escalate when the stage has run this long; none: never."
    )
    escalate_to: str = Field(default="director", description="Who a case is escalated to.")

    @model_validator(mode="after")
    def _same_unit(self) -> Reminders:
        if self.first_after and self.every and self.every.unit != self.first_after.unit:
            raise rule(
                f"must use the same unit as first_after ({self.first_after}), "
                f"got {show_value(str(self.every))}",
                "every",
            )
        if self.every is not None and self.every.amount == 0:
            raise rule('every must be at least 1; write "none" to chase only once', "every")
        return self


_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FULL_DAY_NAMES = (
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"
)  # fmt: skip


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def _parse_clock(value: object) -> time:
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0, tzinfo=None)
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", value)
        if match and int(match.group(1)) < 24 and int(match.group(2)) < 60:
            return time(int(match.group(1)), int(match.group(2)))
    raise ValueError(f'must be a time of day "HH:MM" (24-hour clock), got {show_value(value)}')


Clock = Annotated[
    time,
    PlainValidator(_parse_clock),
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
]

_DATE_HELP = 'write "YYYY-MM-DD" or a range "YYYY-MM-DD..YYYY-MM-DD"'
_ANNUAL_HELP = 'write "MM-DD" or a range "MM-DD..MM-DD" (may wrap the new year)'


def _closure_range(text: str) -> tuple[date, date]:
    first, _, last = text.partition("..")
    start = date.fromisoformat(first.strip())
    end = date.fromisoformat(last.strip()) if last else start
    if end < start:
        raise ValueError("range ends before it starts")
    return start, end


def _annual_day(text: str) -> tuple[int, int]:
    month, _, day = text.strip().partition("-")
    date(2024, int(month), int(day))  # 2024 is a leap year: 02-29 is allowed
    return int(month), int(day)


class CalendarSettings(_Model):
    """When the organisation works: timezone, days, hours, public holidays, closures."""

    timezone: str = Field(default="Europe/London", description="IANA timezone of the office clock.")
    working_days: tuple[str, ...] = Field(
        default=("Mon", "Tue", "Wed", "Thu", "Fri"), description="Weekdays worked (Mon ... Sun)."
    )
    opens: Clock = Field(default=time(9, 0), description="Start of working hours, HH:MM.")
    closes: Clock = Field(
        default=time(17, 0), description="End of working hours, HH:MM; deadlines fall here."
    )
    country: str = Field(
        default="GB",
        description="Country code for public holidays (holidays package); '' for none.",
    )
    subdivision: str = Field(
        default="ENG",
        description="Region for public holidays: GB has ENG, WLS, SCT, NIR; '' for country-wide.",
    )
    closures: tuple[str, ...] = Field(
        default=(), description='Extra closure days: "2026-12-29" or "2026-12-29..2026-12-31".'
    )
    annual_closures: tuple[str, ...] = Field(
        default=(), description='Closure days every year: "12-24" or "12-24..01-01".'
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            close = difflib.get_close_matches(value, _timezones(), n=1)
            hint = (
                f'did you mean "{close[0]}"?' if close else 'use an IANA name like "Europe/London"'
            )
            raise ValueError(f"unknown timezone {show_value(value)}; {hint}") from None
        return value

    @field_validator("working_days", mode="before")
    @classmethod
    def _day_names(cls, value: object) -> tuple[str, ...]:
        if not isinstance(value, list | tuple) or not value:
            raise ValueError(
                f'must be a list of weekdays like ["Mon", "Tue"], got {show_value(value)}'
            )
        days: list[str] = []
        for item in value:
            name = str(item).strip().lower()
            index = next(
                (i for i, full in enumerate(_FULL_DAY_NAMES) if name in (full, full[:3])), None
            )
            if index is None:
                raise ValueError(f"{show_value(item)} is not a weekday; use Mon, Tue, Wed, ... Sun")
            if _DAY_NAMES[index] not in days:
                days.append(_DAY_NAMES[index])
        return tuple(sorted(days, key=_DAY_NAMES.index))

    @field_validator("closures", mode="before")
    @classmethod
    def _closure_dates(cls, value: object) -> tuple[str, ...]:
        if not isinstance(value, list | tuple):
            raise ValueError(f"must be a list of dates, {_DATE_HELP}; got {show_value(value)}")
        out = []
        for item in value:
            text = item.isoformat() if isinstance(item, date) else str(item)
            try:
                start, end = _closure_range(text)
            except ValueError:
                raise ValueError(f"{show_value(item)} is not a date; {_DATE_HELP}") from None
            out.append(start.isoformat() if start == end else f"{start}..{end}")
        return tuple(out)

    @field_validator("annual_closures", mode="before")
    @classmethod
    def _annual_dates(cls, value: object) -> tuple[str, ...]:
        if not isinstance(value, list | tuple):
            raise ValueError(f"must be a list of days, {_ANNUAL_HELP}; got {show_value(value)}")
        out = []
        for item in value:
            first, _, last = str(item).partition("..")
            try:
                days = [_annual_day(first)] + ([_annual_day(last)] if last else [])
            except ValueError:
                raise ValueError(
                    f"{show_value(item)} is not a day of the year; {_ANNUAL_HELP}"
                ) from None
            out.append("..".join(f"{m:02d}-{d:02d}" for m, d in days))
        return tuple(out)

    @model_validator(mode="after")
    def _consistent(self) -> CalendarSettings:
        if not self.opens < self.closes:
            raise rule(
                f'must be after opens ({self.opens:%H:%M}), got "{self.closes:%H:%M}"', "closes"
            )
        if self.country:
            subdivisions = subdivisions_of(self.country)
            if subdivisions is None:
                close = difflib.get_close_matches(self.country.upper(), country_codes(), n=1)
                hint = f'did you mean "{close[0]}"?' if close else "use an ISO code such as GB"
                raise rule(
                    f"no public holidays known for {show_value(self.country)}; {hint}", "country"
                )
            if self.subdivision and self.subdivision not in subdivisions:
                choices = ", ".join(subdivisions) or "none: leave it empty"
                raise rule(
                    f"{show_value(self.subdivision)} is not a subdivision of {self.country}; "
                    f"choose from {choices}",
                    "subdivision",
                )
        elif self.subdivision:
            raise rule(
                "a subdivision needs a country; set country too, or clear subdivision",
                "subdivision",
            )
        return self

    def working_calendar(self) -> WorkingCalendar:
        return _build_calendar(self)


@lru_cache(maxsize=64)
def _build_calendar(settings: CalendarSettings) -> WorkingCalendar:
    closures: set[date] = set()
    for text in settings.closures:
        start, end = _closure_range(text)
        closures.update(start + timedelta(days=i) for i in range((end - start).days + 1))
    annual: set[tuple[int, int]] = set()
    for text in settings.annual_closures:
        first, _, last = text.partition("..")
        start_md = _annual_day(first)
        end_md = _annual_day(last) if last else start_md
        day = date(2024, *start_md)
        while True:  # walk a leap year, wrapping at the new year
            annual.add((day.month, day.day))
            if (day.month, day.day) == end_md:
                break
            day = day + timedelta(days=1) if day < date(2024, 12, 31) else date(2024, 1, 1)
    return WorkingCalendar(
        timezone=settings.timezone,
        workdays=frozenset(_DAY_NAMES.index(name) for name in settings.working_days),
        opens=settings.opens,
        closes=settings.closes,
        country=settings.country or None,
        subdivision=settings.subdivision or None,
        closures=frozenset(closures),
        annual_closures=frozenset(annual),
    )


_GRADE_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# Fields every case has (columns of the case log): a log field cannot take their names.
CASE_FIELDS = ("customer_name", "priority", "category", "department", "referral_manager")


class LogField(_Model):
    """A question on the case's Customer Services Log that staff answer in the web UI."""

    label: str = Field(default="", description="The question shown to staff.")
    choices: tuple[str, ...] = Field(
        default=(), description="The answers to choose from; empty: a free-text answer."
    )

    @field_validator("choices")
    @classmethod
    def _distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not c.strip() for c in value) or len(set(value)) != len(value):
            raise ValueError(f"must be distinct, non-empty answers, got {show_value(value)}")
        return value


class Retention(_Model):
    """How long a closed case is kept before `mailbot retention run` destroys it."""

    after_closure: Kept = Field(
        default=RetentionPeriod(6, "years"),
        description='Keep a closed case this long after it was closed, then destroy it ("6 '
        'years", "18 months", "90 days"); "none": keep for ever. Six years is the UK '
        "limitation period for most claims.",
    )
    categories: dict[CategoryName, Kept] = Field(
        default_factory=dict,
        description='A different period for some categories, e.g. { compliment = "2 years" }.',
    )
    unattached: Kept = Field(
        default=RetentionPeriod(1, "years"),
        description="Mail that belongs to no case is destroyed this long after it arrived or "
        "was sent: bounces, auto-replies and copies Mailbot recorded but never answered, daily "
        "digests and report mails. Held mail waiting for a person is never destroyed by this. "
        '"none": keep for ever.',
    )
    automatic: Flag = Field(
        default=False,
        description="The worker destroys due cases itself (hourly check); false: only "
        "`mailbot retention run` does, e.g. from cron after a look at `retention plan`.",
    )

    def period(self, category: str) -> RetentionPeriod | None:
        """The period for a case of `category` (its own, else `after_closure`)."""
        if category in self.categories:
            return self.categories[category]
        return self.after_closure


def _generic_log_fields() -> dict[str, LogField]:
    # Seed 003's Customer Services Log, minus its pack-specific "apprentice or client?".
    return {
        "resolution_agreed": LogField(
            label="Satisfactory resolution agreed?", choices=("yes", "no")
        )
    }


class Policy(_Model):
    """A complaints procedure: grades, stages, reminders and the working calendar."""

    name: str = Field(
        default="Mailbot default policy", description="Name shown in output and letters."
    )
    source: str = Field(
        default="", description="The document this policy encodes (title, version)."
    )
    default_priority: str = Field(
        default="medium", description="Grade of a new case until someone grades it."
    )
    priorities: dict[str, PriorityGrade] = Field(
        default_factory=_seed_001_grades,
        description="Priority grades by name (lower-case), each with its deadlines.",
    )
    categories: Categories = Field(
        default_factory=Categories, description="How each category of message is handled."
    )
    stages: Stages = Field(default_factory=Stages, description="The stages and their deadlines.")
    holding_letter: HoldingLetter = Field(
        default_factory=HoldingLetter, description="When a holding letter is due."
    )
    reminders: Reminders = Field(
        default_factory=Reminders, description="Chasing and escalating open cases."
    )
    time_limit: Within = Field(
        default=None,
        description="Complaints made longer than this after the issue arose are flagged "
        "(never refused); none: no limit.",
    )
    pause_on_hold: Flag = Field(
        default=True, description="Stop the clock while a case is on hold waiting for the customer."
    )
    vip_straight_to_investigation: Flag = Field(
        default=True, description="A VIP complaint skips frontline and opens at investigation."
    )
    legal_action_suspends: Flag = Field(
        default=True, description="Legal action suspends the procedure (and its clock)."
    )
    calendar: CalendarSettings = Field(
        default_factory=CalendarSettings, description="The working calendar."
    )
    log_fields: dict[str, LogField] = Field(
        default_factory=_generic_log_fields,
        description="Questions on the Customer Services Log by name (lower-case), shown on "
        "the case page besides the fields every case has; a table here replaces the default.",
    )

    retention: Retention = Field(
        default_factory=Retention,
        description="How long closed cases are kept before they are destroyed.",
    )

    @field_validator("priorities")
    @classmethod
    def _grade_names(cls, value: dict[str, PriorityGrade]) -> dict[str, PriorityGrade]:
        if not value:
            raise ValueError("define at least one grade, e.g. [policy.priorities.standard]")
        for name in value:
            if not _GRADE_NAME.match(name):
                raise ValueError(
                    f"grade name {show_value(name)} must be lower-case letters, digits, - or _"
                )
        return value

    @field_validator("log_fields")
    @classmethod
    def _field_names(cls, value: dict[str, LogField]) -> dict[str, LogField]:
        for name in value:
            if not _FIELD_NAME.match(name):
                raise ValueError(
                    f"field name {show_value(name)} must be lower-case letters, digits or _"
                )
            if name in CASE_FIELDS:
                raise ValueError(
                    f"{show_value(name)} is a field every case has; give the question another name"
                )
        return value

    @field_validator("time_limit")
    @classmethod
    def _limit_in_days(cls, value: Duration | None) -> Duration | None:
        if value is not None and value.unit == "working_hours":
            raise ValueError(
                f'must be in days, working days or weeks (e.g. "8 weeks"), got "{value}"'
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        if self.default_priority not in self.priorities:
            close = difflib.get_close_matches(self.default_priority, self.priorities, n=1)
            hint = f'did you mean "{close[0]}"? ' if close else ""
            raise rule(
                f"{show_value(self.default_priority)} is not a grade; {hint}"
                f"choose from {', '.join(self.priorities)}",
                "default_priority",
            )
        if not (self.stages.frontline.enabled or self.stages.investigation.enabled):
            raise rule("enable frontline or investigation: a case must start somewhere", "stages")
        if (
            self.holding_letter.after is not None
            and not self.stage(self.holding_letter.stage).enabled
        ):
            raise rule(
                f"stage {show_value(self.holding_letter.stage)} is disabled; "
                f'choose an enabled stage or set after = "none"',
                "holding_letter.stage",
            )
        return self

    # ---- lookups ------------------------------------------------------------------------

    def stage(self, name: str) -> StageRule:
        if name not in STAGES:
            raise KeyError(f"unknown stage {name!r}; stages are {', '.join(STAGES)}")
        rule: StageRule = getattr(self.stages, name)
        return rule

    @property
    def enabled_stages(self) -> tuple[StageName, ...]:
        return tuple(name for name in STAGES if self.stage(name).enabled)

    @property
    def first_stage(self) -> StageName:
        return self.enabled_stages[0]

    @property
    def appeal_from(self) -> StageName | None:
        """The stage whose outcome can be appealed (the last before appeal), if any."""
        if not self.stages.appeal.enabled:
            return None
        return [name for name in self.enabled_stages if name != "appeal"][-1]

    def grade(self, name: str) -> PriorityGrade:
        try:
            return self.priorities[name]
        except KeyError:
            raise KeyError(
                f"unknown priority grade {name!r}; choose from {', '.join(self.priorities)}"
            ) from None

    def category(self, name: str) -> CategoryRule:
        rule = getattr(self.categories, name, None)
        if not isinstance(rule, CategoryRule):
            raise KeyError(
                f"unknown category {name!r}; choose from {', '.join(Categories.model_fields)}"
            )
        return rule

    def working_calendar(self) -> WorkingCalendar:
        return self.calendar.working_calendar()


# ---- loading ----------------------------------------------------------------------------


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Read and validate a policy file (keys under `[policy]`). Raises `PolicyError`."""
    source = os.fspath(path)
    try:
        text = Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(
            f"cannot read the file ({exc.strerror}); check the path", source=source
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"not valid TOML: {exc}", source=source) from None
    if "policy" not in data:
        close = difflib.get_close_matches("policy", list(data), n=1)
        hint = f"; found [{close[0]}], did you mean [policy]?" if close else ""
        raise PolicyError(
            f"no [policy] table; put the policy's keys under [policy]{hint}", source=source
        )
    return policy_from_mapping(data["policy"], source=source)


def policy_from_mapping(
    data: Mapping[str, Any], *, source: str = "", prefix: str = "policy"
) -> Policy:
    """Validate the contents of a `[policy]` table (e.g. a section of the main config)."""
    if not isinstance(data, Mapping):
        raise PolicyError(
            f"{prefix}: must be a table ([{prefix}]), got {show_value(data)}", source=source
        )
    try:
        return Policy.model_validate(dict(data))
    except ValidationError as exc:
        raise PolicyError(problem_lines(exc, Policy, prefix=prefix), source=source) from None
