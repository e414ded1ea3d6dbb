"""The report charts as SVG: cheap to draw, safe to put in a page, remembered by their numbers."""

from __future__ import annotations

from mailbot.reports.charts import Bars, bar, svg


def test_a_name_typed_by_staff_stays_text_in_the_svg() -> None:
    spec = bar("Received, by category", {'<script>alert("x")</script> & <b>': 3, "Waste": 1})
    text = svg(spec)
    assert text.startswith("<svg") and "<script" not in text and "<b>" not in text
    assert "&lt;script&gt;" in text and "&amp;" in text
    assert ' style="' not in text and "<style" not in text  # the page's CSP allows neither
    assert 'font-size="9px"' in text  # the styles became presentation attributes


def test_the_svg_is_remembered_by_everything_it_shows() -> None:
    first = svg(bar("Open complaints, by stage", {"frontline": 3}, links=["/cases?stage=a"]))
    again = svg(bar("Open complaints, by stage", {"frontline": 3}, links=["/cases?stage=a"]))
    changed = svg(bar("Open complaints, by stage", {"frontline": 4}, links=["/cases?stage=a"]))
    assert again is first  # the same numbers: the same picture, not drawn again
    assert changed != first and ">4<" in changed and ">3<" in first
    assert 'href="/cases?stage=a"' in first


def test_an_empty_chart_says_so() -> None:
    assert "none in this period" in svg(Bars("Outcomes", (), ()))


def test_a_long_name_is_shortened_not_cut_off() -> None:
    text = svg(bar("Received, by category", {"Highways and transport: " + "x" * 60: 2}))
    assert "Highways and transport: xxxxxxxxx…" in text and "x" * 11 not in text
