"""HTML bodies: safe to show an operator, and readable as text."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.mail.html import html_to_text, sanitize_html

# --- sanitize_html -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dangerous",
    [
        "<script>alert(1)</script>",
        "<style>body{background:url(http://evil/)}</style>",
        '<img src=x onerror="alert(1)">',
        '<iframe src="http://evil/"></iframe>',
        '<form action="http://evil/"><input name=p><button>go</button></form>',
        '<object data="x.swf"></object><embed src="x.swf">',
        '<svg onload="alert(1)"><circle/></svg>',
        '<a href="javascript:alert(1)">x</a>',
        '<div style="background:url(http://tracker/)">x</div>',
        '<meta http-equiv="refresh" content="0;url=http://evil/">',
        '<base href="http://evil/">',
        '<body onload="alert(1)">x</body>',
    ],
)
def test_active_content_is_removed(dangerous: str) -> None:
    cleaned = sanitize_html(f"<p>before</p>{dangerous}<p>after</p>").lower()
    for marker in (
        "<script",
        "<style",
        "onerror",
        "onload",
        "<iframe",
        "<form",
        "<input",
        "<object",
        "<embed",
        "<svg",
        "javascript:",
        "style=",
        "<meta",
        "<base",
        "url(",
        "alert",
    ):
        assert marker not in cleaned
    assert "before" in cleaned and "after" in cleaned


def test_formatting_survives() -> None:
    html = (
        "<p>Hello <b>bold</b> <i>it</i> <u>u</u></p><ul><li>one</li></ul>"
        '<table><tr><td colspan="2">cell</td></tr></table><blockquote>q</blockquote>'
    )
    cleaned = sanitize_html(html)
    for kept in ("<b>bold</b>", "<i>it</i>", "<li>one</li>", 'colspan="2"', "<blockquote>q"):
        assert kept in cleaned


def test_links_open_safely_in_a_new_tab() -> None:
    cleaned = sanitize_html('<a href="https://example.org/x" target="_self">x</a>')
    assert 'href="https://example.org/x"' in cleaned
    assert 'rel="noopener noreferrer nofollow"' in cleaned
    assert 'target="_blank"' in cleaned
    assert "_self" not in cleaned


def test_relative_and_data_links_lose_their_href() -> None:
    cleaned = sanitize_html('<a href="/admin">a</a><a href="data:text/html,<b>x</b>">b</a>')
    assert "href" not in cleaned


def test_remote_images_become_their_alt_text() -> None:
    cleaned = sanitize_html(
        '<p><img src="https://tracker.example/p.gif?id=1" alt="Logo &amp; co">'
        '<img src="http://x/y.png"></p>'
    )
    assert "<img" not in cleaned
    assert "tracker" not in cleaned
    assert "Logo &amp; co" in cleaned


def test_embedded_images_stay() -> None:
    cleaned = sanitize_html(
        '<img src="cid:part1@example" alt="a">'
        '<img src="data:image/png;base64,iVBORw0KGgo=" alt="b">'
    )
    assert 'src="cid:part1@example"' in cleaned
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in cleaned


def test_svg_data_images_are_blocked() -> None:
    cleaned = sanitize_html('<img src="data:image/svg+xml;base64,PHN2Zz4=" alt="vector">')
    assert "<img" not in cleaned and "vector" in cleaned


def test_alt_text_cannot_smuggle_markup() -> None:
    cleaned = sanitize_html('<img src="http://x/" alt="<script>alert(1)</script>">')
    assert "<script" not in cleaned
    assert "&lt;script&gt;" in cleaned


_FRAGMENTS = st.sampled_from(
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "<a href='javascript:x'>",
        "<iframe>",
        "<style>*{}</style>",
        "<p>",
        "</p>",
        "<b>",
        "text",
        "&lt;",
        "<",
        ">",
        '"',
        "<img alt='\"><script>' src=http://x>",
        "<!-- <script> -->",
        "<svg/onload=alert(1)>",
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_FRAGMENTS | st.text(max_size=20), max_size=30))
def test_sanitized_output_never_contains_active_content(parts: list[str]) -> None:
    cleaned = sanitize_html("".join(parts)).lower()
    assert "<script" not in cleaned
    assert re.search(r"<[^>]*(?:href|src)\s*=\s*[\"']?\s*javascript:", cleaned) is None
    assert re.search(r"<[^>]*\son\w+\s*=", cleaned) is None  # text may say it, tags may not
    assert "<iframe" not in cleaned and "<style" not in cleaned


# --- html_to_text ------------------------------------------------------------------------------


def test_paragraphs_and_breaks_are_kept() -> None:
    html = "<div><p>Dear team,</p><p>the order<br>never came.</p><div>Regards</div></div>"
    assert html_to_text(html) == "Dear team,\n\nthe order\nnever came.\n\nRegards"


def test_script_style_and_head_are_dropped() -> None:
    html = (
        "<html><head><title>T</title><style>p{}</style></head><body>"
        "<script>var x = 1;</script>Visible<noscript> too</noscript></body></html>"
    )
    assert html_to_text(html) == "Visible too"


def test_entities_and_whitespace() -> None:
    assert html_to_text("<p>  Caf&eacute;&nbsp;&amp;\n\n   bar  &#8364;5 </p>") == "Café & bar €5"


def test_lists_and_preformatted_text() -> None:
    html = "<ul><li>one</li><li>two</li></ul><pre>  indented\n  code</pre>"
    assert html_to_text(html) == "- one\n- two\n\n  indented\n  code"


def test_blockquotes_become_quoted_lines() -> None:
    html = (
        "<div>Still broken.</div><div>On Mon, 1 Jan 2024, Support &lt;s@example.org&gt; "
        "wrote:<blockquote>We fixed it.<blockquote>Is it fixed?</blockquote></blockquote>"
    )
    assert html_to_text(html) == (
        "Still broken.\nOn Mon, 1 Jan 2024, Support <s@example.org> wrote:\n\n"
        "> We fixed it.\n>\n> > Is it fixed?"
    )


def test_broken_html_never_raises() -> None:
    assert html_to_text("<p>unclosed <b>bold <div><<>>&#xZZZ; <!-- no end") != ""


@settings(max_examples=200, deadline=None)
@given(st.lists(_FRAGMENTS | st.text(max_size=20), max_size=30))
def test_html_to_text_never_raises_or_leaks_scripts(parts: list[str]) -> None:
    text = html_to_text("".join(parts))
    assert "alert(1)</script>" not in text
