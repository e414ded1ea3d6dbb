"""The triage web UI: `mailbot web` serves `create_app(config)` (Starlette + Jinja2)."""
