"""The five policy packs (examples/policies/): they load, cite their seed, and keep their dates.

Key deadlines are pinned from fixed received dates across Christmas/New Year 2026-27 (Boxing
Day observed Mon 28 Dec), Easter 2027 (Good Friday 26 Mar, Easter Monday 29 Mar, clocks forward
Sun 28 Mar) and the autumn clock change (Sun 31 Oct 2027). Also: policy validation errors.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mailbot.procedure.lifecycle import (
    TransitionError,
    appeal,
    escalate,
    open_case,
    record_outcome,
    suspend,
)
from mailbot.procedure.planner import due_actions
from mailbot.procedure.policy import Duration, Policy, PolicyError, load_policy, policy_from_mapping
from mailbot.procedure.sla import (
    acknowledge_by,
    appeal_window_closes,
    holding_letter_on,
    is_out_of_time,
    reminder_on,
    resolve_by,
    stage_acknowledge_by,
    stage_respond_by,
)

REPO = Path(__file__).resolve().parent.parent
PACKS = REPO / "examples" / "policies"
SEEDS = REPO.parent / "shared" / "seeds"
SEED_OF = {
    "advance-itsm": "000",
    "xpertex": "001",
    "claim-3000": "002",
    "interlearn": "003",
    "university-it-services": "004",
}
LONDON = ZoneInfo("Europe/London")


def at(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=LONDON)


def pack(name: str) -> Policy:
    return load_policy(PACKS / f"{name}.toml")


CHRISTMAS_EVE = at(2026, 12, 24, 10)  # Thu, during hours
CHRISTMAS_EVE_LATE = at(2026, 12, 24, 18)  # after hours: the clock starts Tue 29 Dec
EASTER_THURSDAY = at(2027, 3, 25, 10)  # GMT; deadlines after Easter are in BST
AUTUMN_FRIDAY = at(2027, 10, 29, 10)  # BST; deadlines after Sun 31 Oct are in GMT


def test_there_are_exactly_the_five_packs() -> None:
    assert sorted(p.stem for p in PACKS.glob("*.toml")) == sorted(SEED_OF)


@pytest.mark.parametrize("name", sorted(SEED_OF))
def test_every_rule_sits_under_a_comment(name: str) -> None:
    lines = (PACKS / f"{name}.toml").read_text(encoding="utf-8").splitlines()
    is_key = re.compile(r"^[a-z_]+\s*=")
    for number, line in enumerate(lines):
        if not is_key.match(line):
            continue
        above = number - 1
        while above >= 0 and is_key.match(lines[above]):
            above -= 1
        assert above >= 0 and lines[above].startswith("#"), f"{name}.toml:{number + 1}: {line}"


def _normalise(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    return re.sub(r"\s+", " ", re.sub(r"[*_#`]", " ", text)).strip().lower()


@pytest.mark.parametrize("name", sorted(SEED_OF))
def test_quotes_are_from_the_seed_document(name: str) -> None:
    seeds = list(SEEDS.glob(f"{SEED_OF[name]}_*.txt"))
    if not seeds:
        pytest.skip("../shared/seeds is not here")
    seed = _normalise(seeds[0].read_text(encoding="utf-8"))
    text = (PACKS / f"{name}.toml").read_text(encoding="utf-8")
    checked = 0
    for block in re.findall(r"(?:^#.*\n)+", text, re.M):
        joined = " ".join(line.lstrip("#").strip() for line in block.splitlines())
        for quote in re.findall(r'"([^"]+)"', joined):
            # "..." marks a cut and [..] an insertion; each remaining piece must be verbatim.
            for piece in re.split(r"\s*\.\.\.\s*|\[[^\]]*\]", quote):
                if len(piece.split()) >= 3:
                    assert _normalise(piece) in seed, f"{name}: not in the seed: {piece!r}"
                    checked += 1
    assert checked >= 5


def test_the_default_policy_is_the_xpertex_table() -> None:
    assert pack("xpertex").priorities == Policy().priorities


# ---- Advance ITSM (seed 000) ---------------------------------------------------------------


def test_advance_itsm() -> None:
    p = pack("advance-itsm")
    assert p.enabled_stages == ("investigation",)  # written complaints go to the manager
    assert acknowledge_by(p, CHRISTMAS_EVE, "standard") == at(2026, 12, 30, 17)  # 2 WD
    assert acknowledge_by(p, CHRISTMAS_EVE_LATE, "standard") == at(2026, 12, 31, 17)
    assert acknowledge_by(p, EASTER_THURSDAY, "standard") == at(2027, 3, 31, 17)
    # "within 28 days": calendar days, 24 Dec + 28 = Thu 21 Jan.
    assert resolve_by(p, CHRISTMAS_EVE, "standard") == at(2027, 1, 21, 17)
    assert stage_respond_by(p, "investigation", CHRISTMAS_EVE) == at(2027, 1, 21, 17)
    assert p.reminders.to == "Julian Brunger (complaints manager)"
    assert reminder_on(p, CHRISTMAS_EVE, 1) is None
    # "any investigation ... should cease immediately" on legal action.
    assert suspend(p, open_case(p, CHRISTMAS_EVE), at(2027, 1, 4)).status == "suspended"
    with pytest.raises(TransitionError):
        appeal(p, record_outcome(open_case(p, CHRISTMAS_EVE), at(2027, 1, 4), "no"), at(2027, 1, 5))


# ---- Xpertex (seed 001) --------------------------------------------------------------------


def test_xpertex_grades_over_christmas() -> None:
    p = pack("xpertex")
    expected = {
        "urgent": (at(2026, 12, 31, 17), at(2027, 1, 18, 17)),  # 3 / 14 working days
        "medium": (at(2027, 1, 4, 17), at(2027, 1, 27, 17)),  # 4 / 21
        "minor": (at(2027, 1, 5, 17), at(2027, 2, 5, 17)),  # 5 / 28
    }
    for grade, (ack, resolve) in expected.items():
        assert acknowledge_by(p, CHRISTMAS_EVE, grade) == ack, grade
        assert resolve_by(p, CHRISTMAS_EVE, grade) == resolve, grade
    assert acknowledge_by(p, CHRISTMAS_EVE_LATE, "urgent") == at(2027, 1, 4, 17)
    assert p.default_priority == "minor"  # §6.4: five working days until graded


def test_xpertex_investigation_holding_letter_and_appeal() -> None:
    p = pack("xpertex")
    case = open_case(p, CHRISTMAS_EVE, priority="urgent")
    assert case.stage == "investigation"  # Stage One is intake; Stage Two starts on receipt
    assert stage_respond_by(p, "investigation", CHRISTMAS_EVE) == at(2027, 2, 5, 17)  # 28 WD
    assert holding_letter_on(p, "investigation", CHRISTMAS_EVE) == at(2027, 1, 27, 9)  # after 20
    # §7.6: appeal within 14 working days of the outcome.
    assert appeal_window_closes(p, at(2027, 2, 1, 12)) == at(2027, 2, 19, 17)
    outcome = record_outcome(case, at(2027, 2, 1, 12), "not upheld")
    assert appeal(p, outcome, at(2027, 2, 19, 16)).stage == "appeal"
    with pytest.raises(TransitionError, match="appeal window closed"):
        appeal(p, outcome, at(2027, 2, 22, 9))
    # §8.3: acknowledged within 5, decided within 20 working days of the appeal.
    assert stage_acknowledge_by(p, "appeal", at(2027, 2, 3)) == at(2027, 2, 10, 17)
    assert stage_respond_by(p, "appeal", at(2027, 2, 3)) == at(2027, 3, 3, 17)


def test_xpertex_across_easter_and_the_clock_changes() -> None:
    p = pack("xpertex")
    spring = acknowledge_by(p, EASTER_THURSDAY, "urgent")
    assert spring == at(2027, 4, 1, 17)  # Good Friday and Easter Monday skipped
    assert spring is not None and spring.utcoffset() is not None
    assert spring.utcoffset().total_seconds() == 3600  # type: ignore[union-attr]
    autumn = acknowledge_by(p, AUTUMN_FRIDAY, "urgent")
    assert autumn == at(2027, 11, 3, 17)
    assert autumn is not None and autumn.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    # Scotland works Easter Monday but closes on 4 Jan 2027 (2 January observed).
    scot = p.model_copy(update={"calendar": p.calendar.model_copy(update={"subdivision": "SCT"})})
    assert acknowledge_by(scot, EASTER_THURSDAY, "urgent") == at(2027, 3, 31, 17)
    assert acknowledge_by(scot, CHRISTMAS_EVE, "medium") == at(2027, 1, 5, 17)


# ---- Claim 3000 (seed 002) -----------------------------------------------------------------


def test_claim_3000() -> None:
    p = pack("claim-3000")
    assert acknowledge_by(p, CHRISTMAS_EVE, "standard") is None  # no period is stated
    assert resolve_by(p, CHRISTMAS_EVE, "standard") is None
    assert p.time_limit == Duration(8, "weeks")
    assert not is_out_of_time(p, date(2026, 10, 29), CHRISTMAS_EVE)  # exactly 8 weeks
    assert is_out_of_time(p, date(2026, 10, 28), CHRISTMAS_EVE)  # flagged, not refused
    compliment = open_case(p, CHRISTMAS_EVE, category="compliment")
    actions = due_actions(p, compliment, CHRISTMAS_EVE, case_id=7)
    assert [(a.kind, a.to) for a in actions] == [
        ("acknowledge", ""),
        ("copy", "relevant service manager"),
    ]


# ---- Interlearn (seed 003) -----------------------------------------------------------------


def test_interlearn() -> None:
    p = pack("interlearn")
    assert p.enabled_stages == ("frontline", "appeal")
    assert acknowledge_by(p, CHRISTMAS_EVE, "standard") == at(2026, 12, 30, 17)  # 2 WD
    assert stage_respond_by(p, "frontline", CHRISTMAS_EVE) == at(2027, 1, 5, 17)  # 5 WD
    assert reminder_on(p, CHRISTMAS_EVE, 1) == at(2027, 1, 6, 9)  # chased after 5 WD
    assert reminder_on(p, CHRISTMAS_EVE, 2) is None  # one chase only
    assert resolve_by(p, CHRISTMAS_EVE, "standard") == at(2027, 1, 21, 17)  # 28 days
    outcome = record_outcome(open_case(p, CHRISTMAS_EVE), at(2027, 1, 5), "resolved")
    assert appeal(p, outcome, at(2028, 1, 5)).stage == "appeal"  # the window is not stated


# ---- University IT Services (seed 004) -----------------------------------------------------


def test_university_it_services() -> None:
    p = pack("university-it-services")
    assert acknowledge_by(p, CHRISTMAS_EVE, "standard") == at(2026, 12, 24, 17)  # "immediately"
    assert acknowledge_by(p, CHRISTMAS_EVE_LATE, "standard") == at(2026, 12, 29, 17)
    assert stage_respond_by(p, "frontline", CHRISTMAS_EVE) == at(2026, 12, 31, 17)  # 3 WD
    assert stage_respond_by(p, "investigation", CHRISTMAS_EVE) == at(2027, 1, 26, 17)  # 20 WD
    assert stage_respond_by(p, "frontline", EASTER_THURSDAY) == at(2027, 4, 1, 17)
    assert open_case(p, CHRISTMAS_EVE, vip=True).stage == "investigation"
    escalated = escalate(p, open_case(p, CHRISTMAS_EVE), at(2026, 12, 31, 12))
    assert stage_respond_by(p, "investigation", escalated.started) == at(2027, 1, 29, 17)
    with pytest.raises(TransitionError, match="no appeal stage"):
        appeal(p, record_outcome(escalated, at(2027, 1, 29), "upheld"), at(2027, 1, 30))


# ---- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            '[policy.priorities.urgent]\nacknowledge_within = "three"',
            "policy.priorities.urgent.acknowledge_within: must be a whole number of working "
            'days ≥ 0 (or "4 working hours", "28 days", "8 weeks", "none"), got "three"',
        ),
        (
            "[policy.priorities.urgent]\nacknowledge_within = -1",
            "policy.priorities.urgent.acknowledge_within: must be a whole number",
        ),
        (
            "[policy.priorities.urgent]\nacknowledge_within = true",
            "got true",
        ),
        (
            "[policy.priorities.urgent]\nacknowledg_within = 3",
            "policy.priorities.urgent.acknowledg_within: unknown key; did you mean "
            "'acknowledge_within'?",
        ),
        ("[policy.stagez]\n", "policy.stagez: unknown key; did you mean 'stages'?"),
        ('[policy]\ndefault_priority = "urgnt"', 'did you mean "urgent"?'),
        ('[policy.calendar]\ntimezone = "Europe/Londn"', 'did you mean "Europe/London"?'),
        ('[policy.calendar]\nsubdivision = "SCO"', "choose from ENG, NIR, SCT, WLS"),
        ('[policy.calendar]\nopens = "9am"', "policy.calendar.opens: must be a time of day"),
        ('[policy.calendar]\nclosures = ["2026-13-01"]', "policy.calendar.closures: "),
        ('[policy.calendar]\nworking_days = ["Mon", "Funday"]', "is not a weekday"),
        ('[policy.reminders]\nevery = "4 working hours"', "policy.reminders.every: must use"),
        ('[policy]\ntime_limit = "8 working hours"', "policy.time_limit: must be in days"),
        (
            "[policy.priorities.x]\nacknowledge_within = 5\nresolve_within = 2",
            "policy.priorities.x.resolve_within: must be at least acknowledge_within",
        ),
        (
            "[policy.stages.frontline]\nenabled = false\n[policy.stages.investigation]\n"
            "enabled = false",
            "policy.stages: enable frontline or investigation",
        ),
        ('[policy.stages.frontline]\nenabled = "yes"', "must be true or false"),
        ("[policy.priorities]\n", "policy.priorities: define at least one grade"),
    ],
)
def test_policy_errors_are_one_line_naming_the_key(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: policy.")
    assert message in text


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read the file"):
        load_policy(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[policy\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="not valid TOML"):
        load_policy(broken)
    typo = tmp_path / "typo.toml"
    typo.write_text("[polcy]\nname = 'x'\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"did you mean \[policy\]"):
        load_policy(typo)


def test_several_mistakes_are_counted_on_the_one_line() -> None:
    with pytest.raises(PolicyError) as caught:
        policy_from_mapping({"name": 3, "pause_on_hold": "x", "nope": 1})
    assert len(caught.value.problems) == 3
    assert str(caught.value).endswith("(and 2 more problems)")


def test_durations_accept_units_and_none() -> None:
    p = policy_from_mapping(
        {
            "priorities": {
                "p": {"acknowledge_within": "4 working hours", "resolve_within": "6 weeks"}
            },
            "default_priority": "p",
            "reminders": {"first_after": "2 wd", "every": "none", "escalate_after": "none"},
            "calendar": {"closures": ["2026-12-29..2026-12-31"], "annual_closures": ["12-24"]},
        }
    )
    assert p.grade("p").acknowledge_within == Duration(4, "working_hours")
    assert p.grade("p").resolve_within == Duration(6, "weeks")
    assert p.reminders.every is None and p.reminders.first_after == Duration(2)
    cal = p.working_calendar()
    assert not cal.is_working_day(date(2026, 12, 30)) and not cal.is_working_day(date(2027, 12, 24))


def test_every_field_has_a_help_string() -> None:
    def walk(model: type) -> None:
        for name, field in model.model_fields.items():  # type: ignore[attr-defined]
            assert field.description, f"{model.__name__}.{name}"
            annotation = field.annotation
            if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
                walk(annotation)

    walk(Policy)
