"""Mailbox health: what the worker records after every poll and delivery run, what
`mailbot status`, the web UI's health page and /metrics show, and the alerts it sends.

- `record`: one row per mailbox (and one for the outbox): last success, last error and
  since when, backlog, IDLE or polling, token expiry.
- `report`: those rows plus the outbox and the oldest unacknowledged complaint, as data.
- `alerts`: incidents (failing longer than `alerts.after_minutes`, acknowledgements at risk),
  mailed to `alerts.to` once when they start and once when they are over, and logged.
- `metrics`: the same numbers in the Prometheus text format.
"""
