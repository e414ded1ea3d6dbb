"""The case queries rewritten for a big log give what the simple ones gave (SQLite and
PostgreSQL): triage's batched first messages and "same customer" suggestions, the case list's
bounded count, the search's trigram-indexed condition and the filters' distinct values; and
the working calendar's table lookups equal counting day by day."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, update
from web_support import add_users, seed_case, web_config

from mailbot.app import open_database
from mailbot.cases import casework as cw
from mailbot.cases.queries import distinct_values
from mailbot.db.engine import Database
from mailbot.db.models import Case
from mailbot.db.web_models import User
from mailbot.procedure.policy import Policy

NOW = datetime.now(UTC)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = open_database(web_config(database_url))
    add_users(database)
    yield database
    database.dispose()


def _user(db: Database, name: str) -> User:
    with db.transaction() as session:
        user = session.scalar(select(User).where(User.username == name))
        assert user is not None
        return user


def test_triage_batches_give_each_case_its_first_message_and_suggestion(db: Database) -> None:
    pat = [seed_case(db, text=f"Bin {i}: unhappy", customer="pat@example.net") for i in range(3)]
    sam = seed_case(db, text="Thank you, unhappy no more", customer="sam@example.net")
    secret = seed_case(db, customer="sam@example.net", confidential=True)
    with db.transaction() as session:
        session.execute(update(Case).where(Case.reference == pat[0]).values(status="closed"))
    for name in ("agent", "manager"):
        user = _user(db, name)
        with db.transaction() as session:
            items = cw.triage_queue(session, user)
            assert pat[0] not in [i.case.reference for i in items]  # closed
            assert (secret in [i.case.reference for i in items]) == (name == "manager")
            for item in items:
                assert item.message is not None
                assert item.message == cw.first_message(session, item.case)
                assert item.text == cw.classified_text(item.message) != ""
                assert item.suggested == cw.suggest_match(session, user, item.case)
            found = {i.case.reference: i.suggested for i in items}
            assert found[pat[2]] is not None and found[pat[2]].reference == pat[1]
            assert found[pat[1]] is not None and found[pat[1]].reference == pat[2]
            expected = secret if name == "manager" else None
            assert (found[sam].reference if found[sam] else None) == expected


def test_the_case_list_counts_up_to_a_bound_then_says_more(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(23):
        seed_case(db, subject=f"Bin {i}")
    monkeypatch.setattr(cw, "COUNT_UP_TO", 15)
    user = _user(db, "agent")
    with db.transaction() as session:
        first = cw.search_cases(session, user, cw.CaseFilters(), NOW, page=1, per_page=5)
        assert (first.total, first.exact, first.pages, len(first.cases)) == (15, False, 2, 5)
        third = cw.search_cases(session, user, cw.CaseFilters(), NOW, page=3, per_page=5)
        assert (third.exact, third.first, third.pages) == (False, 11, 4)
        deep = cw.search_cases(session, user, cw.CaseFilters(), NOW, page=9, per_page=5)
        assert (deep.total, deep.exact, deep.page, deep.last) == (23, True, 5, 23)
        few = cw.search_cases(session, user, cw.CaseFilters(q="Bin 1"), NOW, per_page=5)
        assert (few.total, few.exact, few.pages) == (11, True, 3)  # Bin 1, 10-19


def test_search_matches_within_each_field_never_across_two(db: Database) -> None:
    ref = seed_case(db, subject="Missed bin", customer="pat@example.net")
    user = _user(db, "agent")
    with db.transaction() as session:
        hits = ("missed", "BIN", ref.lower(), "pat@example")
        misses = ("bin pat", "Customer pat")  # "…Missed bin Pat Customer pat@example.net…"
        for q, hit in [(q, True) for q in hits] + [(q, False) for q in misses]:
            page = cw.search_cases(session, user, cw.CaseFilters(q=q), NOW)
            assert (page.total == 1) == hit, q


def test_distinct_values_skip_through_the_index(db: Database) -> None:
    for box in ("b", "a", "c", "a", "b"):
        ref = seed_case(db)
        with db.transaction() as session:
            session.execute(update(Case).where(Case.reference == ref).values(mailbox=box))
    with db.transaction() as session:
        assert distinct_values(session, "cases", "mailbox") == ["a", "b", "c"]
        assert distinct_values(session, "cases", "referral_manager") == [""]


def test_working_day_lookups_equal_stepping_day_by_day() -> None:
    """The calendar's table lookups (add_working_days, working_days_between) give what
    stepping one day at a time gives, across years, bank holidays and past the table."""
    cal = Policy().working_calendar()

    def step(day: date, n: int) -> date:
        day = cal.roll_forward(day)
        for _ in range(n):
            day = cal.next_working_day(day)
        return day

    def count(a: date, b: date) -> int:
        if b < a:
            return -count(b, a)
        return sum(1 for k in range((b - a).days) if cal.is_working_day(a + timedelta(days=k)))

    rng = random.Random(7)
    for _ in range(1500):
        day = date(2022, 1, 1) + timedelta(days=rng.randrange(2500))
        n = rng.choice((0, 1, 2, 5, 20, rng.randrange(1500)))
        assert cal.add_working_days(day, n) == step(day, n), (day, n)
        end = day + timedelta(days=rng.randrange(-800, 2000))
        assert cal.working_days_between(day, end) == count(day, end), (day, end)


def test_a_nul_in_any_filter_is_dropped_not_sent_to_the_database(db: Database) -> None:
    # PostgreSQL rejects NUL in text; the case list used to answer 500 to "?q=Bin%00".
    wanted = seed_case(db, subject="Bin never emptied")
    seed_case(db, subject="Parking permit")
    params = {"q": "Bin\x00 never", "status": "open\x00", "mailbox": "\x00"}
    filters = cw.CaseFilters.from_query(params)
    assert "\x00" not in "".join(str(v) for v in vars(filters).values())
    with db.transaction() as session:
        found = cw.search_cases(session, _user(db, "agent"), filters, NOW)
        assert [c.reference for c in found.cases] == [wanted]
