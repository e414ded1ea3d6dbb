"""TLS for the mail edges: one verified context, shared by IMAP and SMTP."""

from __future__ import annotations

import ssl


def tls_context(ca_file: str = "") -> ssl.SSLContext:
    """The system's trust store (plus `ca_file`, for a private CA); never unverified."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context
