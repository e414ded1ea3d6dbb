"""The connector contract stays apart from Mailbot's database: connectors are handed plain
data by the sync queue. import-linter cannot see `connectors/` (it installs under
mailbot.connectors from a folder beside mailbot/), so this test reads its imports."""

from __future__ import annotations

import ast
from pathlib import Path

from mailbot.connectors.registry import KINDS
from mailbot.connectors.settings import ConnectorSettings, Routing

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = ("sqlalchemy", "mailbot.db", "mailbot.cases", "mailbot.config", "mailbot.sync")


def test_connectors_import_no_database_case_or_config_code() -> None:
    found = []
    for path in sorted((ROOT / "connectors").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            found += [f"{path.name}: {n}" for n in names if n.startswith(FORBIDDEN)]
    assert found == []


def test_every_kind_the_config_accepts_has_an_implementation() -> None:
    kinds = ConnectorSettings.model_fields["kind"].annotation.__args__  # type: ignore[union-attr]
    assert set(kinds) == set(KINDS)


def test_routing_filters_and_an_empty_filter_means_any() -> None:
    r = Routing(labels=("complaint",), priorities=("urgent",))
    case = {"label": "complaint", "mailbox": "info", "priority": "urgent", "stage": "appeal"}
    assert r.matches(**case)
    assert not r.matches(**{**case, "priority": "minor"})
    assert not r.matches(**{**case, "label": "enquiry"})
    assert Routing(labels=()).matches(**{**case, "label": "enquiry"})
