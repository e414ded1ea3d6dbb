"""Charts drawn on the server with matplotlib: SVG for pages, PNG for mail, pages of a PDF.

`matplotlib.figure.Figure` is used directly (never pyplot): no global state, no GUI backend,
safe in the web server's threads. Text is drawn as paths in SVG, so a category name typed by
staff can never become markup in the page.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from matplotlib.figure import Figure

from mailbot.reports.figures import Report

__all__ = ["Chart", "bar", "png", "report_charts", "svg", "trend"]

BLUE, GREEN, AMBER, RED, GREY = "#1f6feb", "#2da44e", "#d4a72c", "#cf222e", "#8c959f"


@dataclass(frozen=True)
class Chart:
    name: str  # a stable id: "by_label", "trend", …
    title: str
    figure: Figure
    link: str = ""  # where a click goes (the dashboard's filtered case list)


def new_figure(title: str, width: float = 6.0, height: float = 3.0) -> tuple[Figure, object]:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    ax = fig.subplots()
    ax.set_title(title, loc="left", fontsize=11, fontweight="bold")
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def bar(
    title: str,
    values: Mapping[str, float],
    *,
    colour: str | Sequence[str] = BLUE,
    percent: bool = False,
    horizontal: bool = True,
) -> Figure:
    """One bar per key, labelled with its value (an empty chart says "none")."""
    fig, ax = new_figure(title, height=max(2.0, 0.45 * len(values) + 1.0) if horizontal else 3.0)
    names, numbers = list(values), list(values.values())
    if not names:
        ax.text(0.5, 0.5, "none in this period", ha="center", va="center", color=GREY)  # type: ignore[attr-defined]
        ax.set_axis_off()  # type: ignore[attr-defined]
        return fig
    draw = ax.barh if horizontal else ax.bar  # type: ignore[attr-defined]
    bars = draw(names, numbers, color=colour)
    labels = [f"{round(v * 100)}%" if percent else f"{v:g}" for v in numbers]
    ax.bar_label(bars, labels=labels, padding=3, fontsize=9)  # type: ignore[attr-defined]
    if horizontal:
        ax.invert_yaxis()  # type: ignore[attr-defined]
        ax.xaxis.set_visible(False)  # type: ignore[attr-defined]
        if percent:
            ax.set_xlim(0, 1.15)  # type: ignore[attr-defined]
    return fig


def trend(title: str, periods: Sequence[str], series: dict[str, Sequence[float]]) -> Figure:
    fig, ax = new_figure(title)
    for (name, values), colour in zip(series.items(), (BLUE, RED, GREEN, AMBER), strict=False):
        ax.plot(periods, values, marker="o", label=name, color=colour)  # type: ignore[attr-defined]
    ax.legend(frameon=False, fontsize=9)  # type: ignore[attr-defined]
    ax.tick_params(axis="x", labelsize=8, rotation=30)  # type: ignore[attr-defined]
    ax.set_ylim(bottom=0)  # type: ignore[attr-defined]
    return fig


def report_charts(report: Report) -> list[Chart]:
    targets = {name: t.share for name, t in report.within_target.items() if t.share is not None}
    outcome_colours = [GREEN, AMBER, BLUE, GREY, GREY]
    return [
        Chart(
            "trend",
            "Received and decided",
            trend(
                "Received and decided, by period",
                [p.period for p in report.trend],
                {
                    "received": [p.received for p in report.trend],
                    "complaints": [p.complaints for p in report.trend],
                    "decided": [p.decided for p in report.trend],
                },
            ),
        ),
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


def svg(figure: Figure) -> str:
    """The chart as an <svg> element (no XML prolog) to put in a page.

    The web UI's Content-Security-Policy allows no inline styles, so matplotlib's
    `style="fill: …"` become SVG presentation attributes (`fill="…"`), which it allows.
    """
    out = io.StringIO()
    figure.savefig(out, format="svg", metadata={"Date": None})
    text = out.getvalue()
    text = _STYLE_ELEMENT.sub("", text[text.index("<svg") :])
    text = text.replace(' target="_blank"', "")  # a bar's link opens in the same tab
    return _STYLE.sub(_attributes, text)


def link_bars(bars: object, urls: Sequence[str]) -> None:
    """Make each bar a link in the SVG (the dashboard's click-through to the case list)."""
    for patch, url in zip(bars, urls, strict=False):  # type: ignore[call-overload]
        patch.set_url(url)


def png(figure: Figure, dpi: int = 110) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=dpi)
    return out.getvalue()
