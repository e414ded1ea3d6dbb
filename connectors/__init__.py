"""Connectors mirror cases into other systems (ticket systems, webhooks).

They run from the outbox side of Mailbot, never inside the mail pipeline, so a slow or
broken remote system can delay a mirror but never an acknowledgement. None ships yet.
"""
