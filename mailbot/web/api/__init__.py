"""Mailbot's REST API under /api/v1: cases for other programs, with per-client tokens.

`tokens` makes and checks the tokens, `access` authenticates and limits each request and
words errors, `shapes` is the JSON in and out, `openapi` the document describing it all, and
`views` the endpoints, which call the same casework functions as the web UI.
"""
