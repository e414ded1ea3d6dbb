"""Look-alike (homograph) domains: `pаypal.com` with a Cyrillic "а" reads as paypal.com.

Browsers show such names as punycode (xn--...) in their address bar; Mailbot does the same
wherever a customer's address or a link's destination is shown, and flags it. Any letter
outside ASCII in a domain, or a label already in punycode, counts: internationalised domains
are rare in a UK council's mail, so a false alarm costs a glance, a miss costs a phishing click.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def ascii_domain(domain: str) -> str:
    """`domain` as DNS sees it (punycode labels); unencodable labels stay as they are."""
    labels = []
    for label in domain.strip().rstrip(".").split("."):
        if label.isascii():
            labels.append(label.lower())
            continue
        try:
            labels.append("xn--" + label.lower().encode("punycode").decode("ascii"))
        except UnicodeError:
            labels.append(label)
    return ".".join(labels)


def lookalike_domain(domain: str) -> str:
    """The punycode form of a domain that may not be what it reads as, else ""."""
    shown = ascii_domain(domain)
    if not domain.isascii() or any(part.startswith("xn--") for part in shown.split(".")):
        return shown
    return ""


def lookalike_address(address: str) -> str:
    """`local@punycode-domain` when the address's domain is a look-alike, else ""."""
    local, at, domain = address.rpartition("@")
    found = lookalike_domain(domain) if at else ""
    return f"{local}@{found}" if found else ""


def lookalike_link(url: str) -> str:
    """The punycode host of a link whose host is a look-alike, else ""."""
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""
    return lookalike_domain(host)
