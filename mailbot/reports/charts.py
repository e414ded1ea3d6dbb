"""Charts drawn on the server with matplotlib: SVG for pages, PNG for mail, pages of a PDF.

`matplotlib.figure.Figure` is used directly (never pyplot): no global state, no GUI backend,
safe in the web server's threads. Text is written into SVG as <text> elements (no embedded
glyph outlines: a quarter of the size, a third faster), XML-escaped by matplotlib, so a
category name typed by staff stays text (tests/test_report_charts.py); PNG and PDF draw it.

A chart is first a description (`Bars`, `Lines`, `Groups`: frozen, hashable data: everything
it shows) and is drawn only when written out. Drawing is kept cheap: no layout engine (the
margins are worked out from the longest label), no axes furniture (names and values are plain
text), and an SVG is remembered by its description (`svg`): the same numbers give the same
picture, so a page shown again with unchanged numbers costs nothing, and changed numbers are
a different description, never a stale picture.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import matplotlib
from matplotlib.figure import Figure

from mailbot.reports.figures import Report

__all__ = ["Bars", "Chart", "Groups", "Lines", "bar", "draw", "png", "report_charts", "svg"]

BLUE, GREEN, AMBER, RED, GREY = "#1f6feb", "#2da44e", "#d4a72c", "#cf222e", "#8c959f"
_WIDTH = 6.0
_LONGEST = 34  # characters of a bar's name shown (the rest: "…"), half the chart's width
_CHAR = 0.08  # inches a character of a 9-point label may take (DejaVu Sans, wide letters)


@dataclass(frozen=True)
class Bars:
    """One horizontal bar per name, labelled with its value (none: the chart says so)."""

    title: str
    names: tuple[str, ...]
    values: tuple[float, ...]
    colours: tuple[str, ...] = (BLUE,)
    percent: bool = False
    links: tuple[str, ...] = ()  # where a click on each bar goes (SVG only)


@dataclass(frozen=True)
class Lines:
    """One line per series over the periods."""

    title: str
    periods: tuple[str, ...]
    series: tuple[tuple[str, tuple[float, ...]], ...]


@dataclass(frozen=True)
class Groups:
    """Vertical bars side by side per name, one colour per series (with links)."""

    title: str
    names: tuple[str, ...]
    series: tuple[tuple[str, tuple[float, ...], str, tuple[str, ...]], ...]


Spec = Bars | Lines | Groups


@dataclass(frozen=True)
class Chart:
    name: str  # a stable id: "by_label", "trend", …
    title: str
    spec: Spec
    link: str = ""  # where a click goes (the dashboard's filtered case list)


def bar(
    title: str,
    values: Mapping[str, float],
    *,
    colour: str | Sequence[str] = BLUE,
    percent: bool = False,
    links: Sequence[str] = (),
) -> Bars:
    colours = (colour,) if isinstance(colour, str) else tuple(colour)
    return Bars(
        title, tuple(map(str, values)), tuple(values.values()), colours, percent, tuple(links)
    )


def _figure(title: str, width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100)
    fig.text(0.015, 1 - 0.12 / height, title, va="top", fontsize=11, fontweight="bold")
    return fig


def _bars(spec: Bars, size: tuple[float, float] | None) -> Figure:
    n = len(spec.names)
    width, height = size or (_WIDTH, max(2.0, 0.45 * n + 1.0))
    fig = _figure(spec.title, width, height)
    if not n:
        fig.text(0.5, 0.45, "none in this period", ha="center", va="center", color=GREY)
        return fig
    names = [name if len(name) <= _LONGEST else name[: _LONGEST - 1] + "…" for name in spec.names]
    longest = max(len(name) for name in names)
    left = min(0.5, (0.25 + _CHAR * longest) / width)
    right = 1 - (0.25 + _CHAR * 6) / width  # room for the largest value's label
    ax = fig.add_axes((left, 0.12 / height, right - left, 1 - 0.55 / height))
    ax.set_axis_off()
    top = 1.0 if spec.percent else max(max(spec.values), 0) or 1
    ax.set_xlim(0, top)
    ax.set_ylim(n - 0.5, -0.5)  # the first name at the top
    colours = [spec.colours[i % len(spec.colours)] for i in range(n)]
    bars = ax.barh(range(n), spec.values, 0.7, color=colours)
    for patch, url in zip(bars, spec.links, strict=False):
        patch.set_url(url)
    labels = [f"{round(v * 100)}%" if spec.percent else f"{v:g}" for v in spec.values]
    names_at, values_at = ax.get_yaxis_transform(), ax.transData
    for y, (name, value, label) in enumerate(zip(names, spec.values, labels, strict=True)):
        ax.text(-0.015, y, name, ha="right", va="center", fontsize=9, transform=names_at)
        ax.text(max(value, 0) + top * 0.01, y, label, va="center", fontsize=9,
                transform=values_at)  # fmt: skip
    ax.axvline(0, color="#444444", linewidth=0.8)
    return fig


def _axes(fig: Figure, height: float) -> object:
    ax = fig.add_axes((0.08, 0.2, 0.9, 1 - 0.2 - 0.5 / height))
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def _lines(spec: Lines, size: tuple[float, float] | None) -> Figure:
    width, height = size or (_WIDTH, 3.0)
    fig = _figure(spec.title, width, height)
    ax = _axes(fig, height)
    xs = range(len(spec.periods))
    for (name, values), colour in zip(spec.series, (BLUE, RED, GREEN, AMBER), strict=False):
        ax.plot(xs, values, marker="o", label=name, color=colour)  # type: ignore[attr-defined]
    ax.set_xticks(xs, spec.periods, fontsize=8, rotation=30)  # type: ignore[attr-defined]
    ax.tick_params(axis="y", labelsize=8)  # type: ignore[attr-defined]
    ax.legend(frameon=False, fontsize=9)  # type: ignore[attr-defined]
    ax.set_ylim(bottom=0)  # type: ignore[attr-defined]
    return fig


def _groups(spec: Groups, size: tuple[float, float] | None) -> Figure:
    width, height = size or (7.5, 3.0)
    fig = _figure(spec.title, width, height)
    ax = _axes(fig, height)
    step = 0.8 / max(1, len(spec.series))
    for i, (label, values, colour, links) in enumerate(spec.series):
        xs = [n + (i - (len(spec.series) - 1) / 2) * step for n in range(len(spec.names))]
        bars = ax.bar(xs, values, step, label=label, color=colour)  # type: ignore[attr-defined]
        for patch, url in zip(bars, links, strict=False):
            patch.set_url(url)
    ax.set_xticks(range(len(spec.names)), spec.names, rotation=45, fontsize=8)  # type: ignore[attr-defined]
    ax.tick_params(axis="y", labelsize=8)  # type: ignore[attr-defined]
    ax.legend(frameon=False, fontsize=9)  # type: ignore[attr-defined]
    return fig


def draw(spec: Spec, size: tuple[float, float] | None = None) -> Figure:
    """The chart as a matplotlib figure (`size`: inches, else its own)."""
    if isinstance(spec, Bars):
        return _bars(spec, size)
    if isinstance(spec, Lines):
        return _lines(spec, size)
    return _groups(spec, size)


def report_charts(report: Report) -> list[Chart]:
    targets = {name: t.share for name, t in report.within_target.items() if t.share is not None}
    outcome_colours = [GREEN, AMBER, BLUE, GREY, GREY]
    received = Lines(
        "Received and decided, by period",
        tuple(p.period for p in report.trend),
        (
            ("received", tuple(p.received for p in report.trend)),
            ("complaints", tuple(p.complaints for p in report.trend)),
            ("decided", tuple(p.decided for p in report.trend)),
        ),
    )
    return [
        Chart("trend", "Received and decided", received),
        Chart("by_label", "Received", bar("Received, by kind", report.by_label)),
        Chart(
            "outcomes",
            "Outcomes",
            bar("Complaints decided, by outcome", report.outcomes, colour=outcome_colours),
        ),
        Chart(
            "within_target",
            "Within target",
            bar("Answered within target", targets, colour=GREEN, percent=True),
        ),
        Chart("by_category", "Causes", bar("Received, by category", report.by_category)),
    ]


_STYLE = re.compile(r' style="([^"]*)"')
_STYLE_ELEMENT = re.compile(r"<style[^>]*>.*?</style>", re.DOTALL)


def _attributes(match: re.Match[str]) -> str:
    pairs = (part.split(":", 1) for part in match.group(1).split(";") if ":" in part)
    return "".join(f' {name.strip()}="{value.strip()}"' for name, value in pairs)


@lru_cache(maxsize=256)
def svg(spec: Spec) -> str:
    """The chart as an <svg> element (no XML prolog) to put in a page; remembered by its
    description (the numbers are part of it: new numbers, new picture).

    The web UI's Content-Security-Policy allows no inline styles, so matplotlib's
    `style="fill: …"` become SVG presentation attributes (`fill="…"`), which it allows.
    """
    out = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        draw(spec).savefig(out, format="svg", metadata={"Date": None})
    text = out.getvalue()
    text = _STYLE_ELEMENT.sub("", text[text.index("<svg") :])
    text = text.replace(' target="_blank"', "")  # a bar's link opens in the same tab
    return _STYLE.sub(_attributes, text)


def png(spec: Spec, dpi: int = 110) -> bytes:
    out = io.BytesIO()
    draw(spec).savefig(out, format="png", dpi=dpi)
    return out.getvalue()
