"""Managers' reports: figures (pure), loading them from the log, charts and formats."""
