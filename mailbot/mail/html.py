"""HTML mail bodies: a safe subset for display, and plain text for everything else."""

from __future__ import annotations

import re
from html import escape, unescape
from html.parser import HTMLParser

import nh3

from mailbot.mail.lookalike import lookalike_link

# Formatting only: nothing that runs code, submits, embeds or styles.
_ALLOWED_TAGS = frozenset(
    {
        "a",
        "abbr",
        "b",
        "blockquote",
        "br",
        "caption",
        "code",
        "col",
        "colgroup",
        "dd",
        "del",
        "div",
        "dl",
        "dt",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "img",
        "ins",
        "kbd",
        "li",
        "ol",
        "p",
        "pre",
        "q",
        "s",
        "small",
        "span",
        "strike",
        "strong",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "tt",
        "u",
        "ul",
    }
)
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "abbr": {"title"},
}
_LINK_SCHEMES = ("http:", "https:", "mailto:")
# SVG is left out: an image format that can carry script is not worth the risk.
_INLINE_IMAGE = re.compile(r"^(cid:|data:image/(png|gif|jpe?g|webp|bmp);)", re.IGNORECASE)
# nh3 serialises every attribute as name="value" with `"` escaped, so this cannot be fooled.
_IMG_TAG = re.compile(r'<img((?:\s+[^\s="<>/]+(?:="[^"]*")?)*)\s*/?>')
_ATTRIBUTE = re.compile(r'([^\s="<>/]+)(?:="([^"]*)")?')


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src":
        # Remote images are tracking beacons; only images carried in the mail may load.
        return value if _INLINE_IMAGE.match(value.strip()) else None
    if tag == "a" and attribute == "href":
        return value if value.strip().lower().startswith(_LINK_SCHEMES) else None
    return value


def _image_or_alt(match: re.Match[str]) -> str:
    attributes = {
        name.lower(): unescape(value or "") for name, value in _ATTRIBUTE.findall(match.group(1))
    }
    if "src" in attributes:
        return match.group(0)
    return escape(attributes.get("alt", "").strip())


# nh3 writes every kept link as <a href="..." ...>text</a>, never nested.
# Not when already flagged: stored HTML is cleaned again when shown.
_FLAG = "<strong>[look-alike link: goes to "
_ANCHOR = re.compile(
    r'<a\s[^>]*?href="([^"]*)"[^>]*>.*?</a>(?! ' + re.escape(_FLAG) + ")", re.DOTALL
)


def _flag_lookalike(match: re.Match[str]) -> str:
    host = lookalike_link(unescape(match.group(1)))
    if not host:
        return match.group(0)
    return f"{match.group(0)} {_FLAG}{escape(host)}]</strong>"


def sanitize_html(html: str) -> str:
    """HTML safe to show an operator: formatting kept, scripts/forms/remote images gone."""
    cleaned = nh3.clean(
        html,
        tags=set(_ALLOWED_TAGS),
        clean_content_tags={"script", "style", "template", "title", "head", "noscript"},
        attributes={tag: set(names) for tag, names in _ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_filter_attribute,
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        url_schemes={"http", "https", "mailto", "cid", "data"},
        url_relative="deny",
        strip_comments=True,
    )
    return _ANCHOR.sub(_flag_lookalike, _IMG_TAG.sub(_image_or_alt, cleaned))


# --- HTML -> text ---------------------------------------------------------------------------

_SKIP = frozenset({"script", "style", "head", "title", "template", "xml"})
_PARAGRAPH = frozenset(
    {
        "p",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "ul",
        "ol",
        "dl",
        "table",
        "pre",
        "address",
        "figure",
        "fieldset",
    }
)
_LINE = frozenset(
    {
        "div",
        "li",
        "tr",
        "dt",
        "dd",
        "hr",
        "section",
        "article",
        "header",
        "footer",
        "center",
        "form",
        "caption",
        "tbody",
        "thead",
        "tfoot",
        "main",
        "nav",
        "aside",
        "details",
        "summary",
        "figcaption",
        "body",
        "html",
    }
)
_VOID = frozenset({"br", "hr", "img", "meta", "link", "input", "col", "area", "base", "wbr"})


class _TextExtractor(HTMLParser):
    """Collects text as (blockquote depth, text) segments; tags become line breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.segments: list[tuple[int, list[str]]] = [(0, [])]
        self.depth = 0
        self.skipping: list[str] = []
        self.pre = 0

    def _emit(self, text: str) -> None:
        self.segments[-1][1].append(text)

    def _break(self, blank: bool = False) -> None:
        # Nested blocks (<div><p>) each ask for a break; one line break or one blank line is
        # all they get together.
        tail = "".join(self.segments[-1][1][-2:])
        have = len(tail) - len(tail.rstrip("\n"))
        self._emit("\n" * max((2 if blank else 1) - have, 0))

    def _set_depth(self, depth: int) -> None:
        self.depth = max(depth, 0)
        self.segments.append((self.depth, []))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skipping:
            if tag in _SKIP and tag not in _VOID:
                self.skipping.append(tag)
            return
        if tag in _SKIP:
            self.skipping.append(tag)
        elif tag == "br":
            self._break()
        elif tag == "blockquote":
            self._set_depth(self.depth + 1)
        elif tag == "li":
            self._break()
            self._emit("- ")
        elif tag in ("td", "th"):
            self._emit("\t")
        elif tag in _PARAGRAPH:
            self._break(blank=True)
            if tag == "pre":
                self.pre += 1
        elif tag in _LINE:
            self._break()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.skipping:
            if tag == self.skipping[-1]:
                self.skipping.pop()
            return
        if tag == "blockquote":
            self._set_depth(self.depth - 1)
        elif tag in _PARAGRAPH:
            if tag == "pre":
                self.pre = max(self.pre - 1, 0)
            self._break(blank=True)
        elif tag in _LINE:
            self._break()

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        if not self.pre:
            data = re.sub(r"\s+", " ", data.replace("\xa0", " "))
            if self._after_break_or_space():
                data = data.lstrip()  # source indentation, or a space already there
        if data:
            self._emit(data)

    def _after_break_or_space(self) -> bool:
        pieces = self.segments[-1][1]
        return not pieces or pieces[-1].endswith(("\n", "\t", " "))

    def text(self) -> str:
        lines: list[str] = []
        previous = 0
        for depth, pieces in self.segments:
            chunk = "".join(pieces)
            if not chunk.strip():
                continue
            prefix = "> " * depth
            if lines and lines[-1].strip("> "):
                # A quote starts or ends: set it apart, inside the quote both share.
                lines.append(("> " * min(depth, previous)).rstrip())
            previous = depth
            for line in _tidy(chunk).split("\n"):
                lines.append((prefix + line).rstrip() if line else prefix.rstrip())
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def _tidy(chunk: str) -> str:
    lines = [line.rstrip() for line in chunk.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def html_to_text(html: str) -> str:
    """Readable plain text: paragraphs and line breaks kept, blockquotes as "> " lines,
    script/style/head dropped. Never raises."""
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
    except Exception:  # html.parser is lenient, but a str with lone surrogates can still trip it
        return re.sub(r"<[^>]*>", " ", html).strip()
    return extractor.text()
