"""Letters from Jinja2 templates: the operator's template folder first, then the shipped ones."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    select_autoescape,
)


@dataclass(frozen=True)
class Letter:
    subject: str
    text: str
    html: str
    # Pictures the HTML shows as <img src="cid:NAME">: (NAME, PNG bytes), e.g. report charts.
    images: tuple[tuple[str, bytes], ...] = ()


class Renderer:
    """Renders `NAME.subject.j2`, `NAME.txt.j2` and `NAME.html.j2` into a Letter."""

    def __init__(self, override_dir: str | Path | None = None) -> None:
        loaders: list[Any] = []
        if override_dir:
            loaders.append(FileSystemLoader(str(override_dir)))
        loaders.append(PackageLoader("mailbot.templates", ""))
        self.env = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
            undefined=StrictUndefined,  # a typo in a template fails loudly, not silently blank
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["longdate"] = _longdate

    def render(self, name: str, **context: Any) -> Letter:
        subject = self.env.get_template(f"{name}.subject.j2").render(**context)
        return Letter(
            subject=" ".join(subject.split()),
            text=self.env.get_template(f"{name}.txt.j2").render(**context),
            html=self.env.get_template(f"{name}.html.j2").render(**context),
        )

    def names(self) -> list[str]:
        return sorted({n.split(".")[0] for n in self.env.list_templates(extensions=["j2"])})


def _longdate(value: Any) -> str:
    """'Wednesday 25 November 2026' — unambiguous for customers in any country."""
    return f"{value:%A} {value.day} {value:%B %Y}"
