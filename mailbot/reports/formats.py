"""A report written out: HTML (charts as SVG), CSV, JSON, PDF (charts on pages), or a letter
for the mailing (charts as PNG pictures in the mail)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import date
from typing import Any, Literal

from markupsafe import Markup
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from mailbot.config import Config
from mailbot.render import Letter, Renderer
from mailbot.reports.charts import draw, png, report_charts, svg
from mailbot.reports.figures import Report

__all__ = ["FORMATS", "TEMPLATE", "as_csv", "as_dict", "as_html", "as_json", "as_pdf", "letter"]

Format = Literal["html", "csv", "json", "pdf"]
FORMATS = ("html", "csv", "json", "pdf")
TEMPLATE = "monthly_report"  # templates/monthly_report.*.j2 (operators may override it)


def as_dict(report: Report) -> dict[str, Any]:
    data = dataclasses.asdict(report)
    data["period"] = {
        "kind": report.period.kind,
        "key": report.period.key,
        "label": report.period.label,
        "start": report.period.start.isoformat(),
        "end": report.period.end.isoformat(),
    }
    for name, target in report.within_target.items():
        data["within_target"][name]["share"] = target.share
    data["top_causes"] = [list(pair) for pair in report.top_causes]
    return data


def as_json(report: Report) -> str:
    return json.dumps(as_dict(report), indent=2, default=_iso) + "\n"


def _iso(value: object) -> str:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def as_csv(report: Report) -> str:
    """One figure a line: section, name, value (spreadsheets and scripts read it alike)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(["section", "name", "value"])
    w.writerow(["period", report.period.kind, report.period.key])
    w.writerow(["totals", "received", report.received])
    w.writerow(["totals", "confidential", report.confidential])
    w.writerow(["totals", "decided", report.decided])
    w.writerow(["totals", "appeals", report.appeals])
    for section in (
        "by_label",
        "by_category",
        "by_priority",
        "by_stage",
        "outcomes",
        "appeal_results",
        "compliments_by_department",
    ):
        for name, n in getattr(report, section).items():
            w.writerow([section, name, n])
    for name, target in report.within_target.items():
        w.writerow(["within_target_answered", name, target.answered])
        w.writerow(["within_target_within", name, target.within])
        w.writerow(["within_target_share", name, "" if target.share is None else target.share])
    for which in ("acknowledge_days", "resolve_days"):
        spread = getattr(report, which)
        for stat in ("count", "median", "p90"):
            value = getattr(spread, stat)
            w.writerow([which, stat, "" if value is None else value])
    for name, n in report.top_causes:
        w.writerow(["top_causes", name, n])
    for point in report.trend:
        w.writerow(["trend_received", point.period, point.received])
        w.writerow(["trend_complaints", point.period, point.complaints])
        w.writerow(["trend_decided", point.period, point.decided])
    for reference in report.late:
        w.writerow(["late", reference, ""])
    return out.getvalue()


def _render(config: Config, renderer: Renderer, report: Report, charts: dict[str, Any]) -> Letter:
    return renderer.render(TEMPLATE, organisation=config.organisation, report=report, charts=charts)


def as_html(config: Config, renderer: Renderer, report: Report) -> str:
    charts = {c.name: Markup(svg(c.spec)) for c in report_charts(report)}
    return _render(config, renderer, report, charts).html


def chart_image(cid: str) -> Markup:
    """The <img> that shows picture `cid` of a mail (alt text: the chart's name)."""
    alt = cid.removeprefix("chart-").replace("_", " ")
    return Markup(f'<img src="cid:{cid}" alt="{alt}" style="max-width: 100%;">')


def letter(config: Config, renderer: Renderer, report: Report) -> Letter:
    """The mailing: charts as PNG pictures the HTML shows by Content-ID."""
    charts = report_charts(report)
    images = tuple((f"chart-{c.name}", png(c.spec)) for c in charts)
    markup = {c.name: chart_image(f"chart-{c.name}") for c in charts}
    return dataclasses.replace(_render(config, renderer, report, markup), images=images)


def _text_page(config: Config, renderer: Renderer, report: Report) -> Figure:
    text = _render(config, renderer, report, {}).text
    lines = [line for line in text.splitlines() if not line.startswith("-- ")][:70]
    fig = Figure(figsize=(8.27, 11.69))  # A4
    fig.text(0.07, 0.96, "\n".join(lines), va="top", family="DejaVu Sans", fontsize=9.5)
    return fig


def as_pdf(config: Config, renderer: Renderer, report: Report) -> bytes:
    """A summary page, then one chart a page (A4)."""
    out = io.BytesIO()
    with PdfPages(out, metadata={"Title": f"Complaints report: {report.period.label}"}) as pdf:
        pdf.savefig(_text_page(config, renderer, report))
        for chart in report_charts(report):
            pdf.savefig(draw(chart.spec, size=(8.27, 5.0)))
    return out.getvalue()


def write(config: Config, renderer: Renderer, report: Report, fmt: str) -> bytes:
    """The report in format `fmt` (one of FORMATS), as bytes to write to a file."""
    if fmt == "pdf":
        return as_pdf(config, renderer, report)
    if fmt == "html":
        return as_html(config, renderer, report).encode()
    if fmt == "csv":
        return as_csv(report).encode()
    return as_json(report).encode()
