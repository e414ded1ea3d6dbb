"""Every figure of a report, checked against numbers worked out by hand (mailbot.reports.figures).

Pure functions on rows: no database. The cases straddle month ends (on the office clock of
Europe/London, BST until 25 Oct 2026), include an on-hold pause, a confidential case, appeals
and the Christmas bank holidays; each expectation says how it was counted.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailbot.procedure.policy import Policy
from mailbot.procedure.sla import Hold
from mailbot.reports.figures import (
    Period,
    PeriodError,
    Row,
    Spread,
    Target,
    compute,
    outcome_kind,
    percentile,
    working_days,
)

POLICY = Policy()  # England & Wales bank holidays; urgent acknowledged in 3 working days
CAL = POLICY.working_calendar()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


ROWS = [
    # A: Mon 2 Nov; acknowledged the next day (1); upheld Mon 9 Nov: Tue-Fri + Mon = 5 days.
    Row("CS-A", "complaint", at("2026-11-02T09:00"), "Waste", "urgent", status="closed",
        acknowledged_at=at("2026-11-03T10:00"), due_at=at("2026-11-20T17:00"),
        outcome="Upheld: we are sorry", outcome_at=at("2026-11-09T12:00"),
        closed_at=at("2026-11-10T09:00")),
    # B: Fri 27 Nov; acknowledged Mon 7 Dec: Mon 30, 1, 2, 3, 4, 7 Dec = 6 days, after its
    # deadline (Thu 3 Dec). Not decided.
    Row("CS-B", "complaint", at("2026-11-27T15:00"), "Waste", "medium",
        acknowledged_at=at("2026-12-07T09:00"), due_at=at("2026-12-29T17:00")),
    # C: 23:30 on Mon 30 Nov (GMT): November. Acknowledged Tue 1 Dec (1). Decided in December.
    Row("CS-C", "complaint", at("2026-11-30T23:30"), "Parking", "minor", stage="investigation",
        acknowledged_at=at("2026-12-01T09:00"), due_at=at("2027-01-20T17:00"),
        outcome="Partly upheld", outcome_at=at("2026-12-10T09:00")),
    # D: 23:30 on Sat 31 Oct (GMT): October. Acknowledged Mon 2 Nov. Not upheld Fri 20 Nov:
    # 2-20 Nov = 15 working days, less 10-13 Nov on hold (4) = 11. Due 18 Nov: late.
    Row("CS-D", "complaint", at("2026-10-31T23:30"), "Waste", "urgent",
        acknowledged_at=at("2026-11-02T09:00"), due_at=at("2026-11-18T17:00"),
        outcome="Not upheld", outcome_at=at("2026-11-20T16:00"),
        holds=(Hold(at("2026-11-09T09:00"), at("2026-11-13T09:00"), "customer"),)),
    Row("CS-E", "compliment", at("2026-11-10T10:00"), "Feedback", "minor",
        department="Libraries"),
    Row("CS-F", "compliment", at("2026-11-11T10:00"), "Feedback", "minor"),
    # G: confidential. Acknowledged the same day (0). Withdrawn Wed 25 Nov: 5-25 Nov = 15
    # working days. Due 20 Nov: late, at the investigation stage.
    Row("CS-G", "complaint", at("2026-11-04T10:00"), "Staff conduct", "urgent",
        stage="investigation", confidential=True, acknowledged_at=at("2026-11-04T14:00"),
        due_at=at("2026-11-20T17:00"), outcome="Withdrawn by the customer",
        outcome_at=at("2026-11-25T10:00")),
    Row("CS-H", "enquiry", at("2026-11-12T10:00"), "General", "minor"),
    # I: 00:10 on 1 Dec: December, not November.
    Row("CS-I", "complaint", at("2026-12-01T00:10"), "Parking", "medium"),
    # J: received Tue 15 Sep; appealed 16 Nov; upheld on appeal Fri 27 Nov, before its due
    # date: 16-30 Sep (11) + October (22) + 1-27 Nov (20) = 53 working days.
    Row("CS-J", "complaint", at("2026-09-15T10:00"), "Waste", "urgent", stage="appeal",
        acknowledged_at=at("2026-09-15T11:00"), due_at=at("2026-12-10T17:00"),
        outcome="Upheld on appeal", outcome_at=at("2026-11-27T10:00"),
        appealed_at=at("2026-11-16T10:00")),
    # K: received 1 Oct, appealed 23 Nov, no appeal outcome yet: pending.
    Row("CS-K", "complaint", at("2026-10-01T10:00"), "Parking", "urgent", stage="appeal",
        appealed_at=at("2026-11-23T10:00")),
    # L: 23:30 UTC on 30 Sep is 00:30 on 1 Oct in BST: October.
    Row("CS-L", "complaint", at("2026-09-30T23:30"), "Parking", "urgent"),
]  # fmt: skip


def test_november_2026_by_hand() -> None:
    report = compute(POLICY, ROWS, Period.parse("monthly", "2026-11"))
    assert report.period.label == "November 2026"
    assert report.received == 7  # A B C E F G H
    assert report.confidential == 1  # G: counted
    assert report.by_label == {"complaint": 4, "compliment": 2, "enquiry": 1}
    assert report.by_category == {
        "Waste": 2,
        "Feedback": 2,
        "Parking": 1,
        "Staff conduct": 1,
        "General": 1,
    }
    assert report.by_priority == {"urgent": 2, "medium": 1, "minor": 1}  # complaints
    assert report.by_stage == {"frontline": 2, "investigation": 2}
    assert report.top_causes == [("Waste", 2), ("Parking", 1), ("Staff conduct", 1)]
    assert report.decided == 4  # A D G J (C is decided in December)
    assert report.outcomes == {
        "upheld": 2,  # A, J on appeal
        "partly upheld": 0,
        "not upheld": 1,  # D
        "withdrawn": 1,  # G
        "other": 0,
    }
    assert report.within_target == {
        "acknowledgement": Target(answered=4, within=3),  # A C G; B late
        "frontline": Target(2, 1),  # A in time, D late
        "investigation": Target(1, 0),  # G late
        "appeal": Target(1, 1),  # J
    }
    assert report.within_target["acknowledgement"].share == 0.75
    assert report.acknowledge_days == Spread(count=4, median=1.0, p90=6)  # [0, 1, 1, 6]
    assert report.resolve_days == Spread(count=4, median=13.0, p90=53)  # [5, 11, 15, 53]
    assert report.appeals == 2
    assert report.appeal_results == {"upheld": 1, "pending": 1}
    assert report.compliments_by_department == {"Libraries": 1, "(none)": 1}
    assert report.late == ["CS-D", "CS-G"]
    october, november = report.trend[-2:]
    assert [p.period for p in report.trend] == [
        "May 2026",
        "Jun 2026",
        "Jul 2026",
        "Aug 2026",
        "Sep 2026",
        "Oct 2026",
        "Nov 2026",
    ]
    assert (october.received, october.complaints, october.decided) == (3, 3, 0)  # D K L
    assert october.acknowledged_in_time == 1.0  # D only (K and L were never acknowledged)
    assert (november.received, november.complaints, november.decided) == (7, 4, 4)
    assert report.trend[4].received == 1  # September: J


def test_agents_see_confidential_cases_counted_but_not_named() -> None:
    report = compute(POLICY, ROWS, Period.month(2026, 11), show_confidential=False)
    assert report.late == ["CS-D"]
    assert report.confidential == 1 and report.within_target["investigation"] == Target(1, 0)


def test_an_annual_report_and_its_trend() -> None:
    report = compute(POLICY, ROWS, Period.parse("annual", "2026"))
    assert report.received == 12  # every row: all were received in 2026
    assert report.decided == 5  # November's four and C (December)
    assert report.outcomes["partly upheld"] == 1
    assert [p.period for p in report.trend] == ["2023", "2024", "2025", "2026"]


def test_working_days_skip_weekends_bank_holidays_and_pauses() -> None:
    # Wed 23 Dec to Tue 29 Dec: Thu 24 and Tue 29 (Christmas, Boxing Day observed Mon 28).
    assert working_days(CAL, at("2026-12-23T10:00"), at("2026-12-29T10:00")) == 2
    assert working_days(CAL, at("2026-12-23T10:00"), at("2026-12-23T16:00")) == 0
    hold = Hold(at("2026-12-23T12:00"), at("2026-12-24T12:00"))
    assert working_days(CAL, at("2026-12-23T10:00"), at("2026-12-29T10:00"), [hold]) == 1
    # A hold still running counts up to the end moment.
    still = Hold(at("2026-12-24T09:00"), None)
    assert working_days(CAL, at("2026-12-23T10:00"), at("2026-12-29T10:00"), [still]) == 1


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Upheld. We apologise", "upheld"),
        ("Partly upheld: the bin", "partly upheld"),
        ("partially-upheld", "partly upheld"),
        ("Not upheld: the original decision stands.", "not upheld"),
        ("withdrawn: legal action", "withdrawn"),
        ("Merged into CS-2026-00001", "other"),
        ("", "other"),
    ],
)
def test_outcome_kinds(text: str, kind: str) -> None:
    assert outcome_kind(text) == kind


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.9) is None
    assert percentile([3], 0.9) == 3
    assert percentile(list(range(1, 11)), 0.9) == 9  # ⌈9.0⌉ = 9th smallest
    assert percentile(list(range(1, 12)), 0.9) == 10  # ⌈9.9⌉ = 10th


def test_a_period_is_checked() -> None:
    with pytest.raises(PeriodError, match=r"--period: '2026-13' is not a monthly period"):
        Period.parse("monthly", "2026-13")
    assert Period.parse("monthly", "2026-01").previous().key == "2025-12"
    assert Period.last_complete("monthly", datetime(2026, 12, 1).date()).key == "2026-11"
