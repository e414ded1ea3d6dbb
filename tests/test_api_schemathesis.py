"""The REST API against its own OpenAPI document, by a property-based tester (schemathesis):
the real app served by uvicorn on 127.0.0.1, on a real SQLite file populated with cases and
users. For every operation schemathesis generates valid and invalid requests (bodies,
filters, path values, headers) and checks that none gets a server error and that every
answer matches the document (status codes, content type, body schema). Generated writes go
through the real casework: statuses change, notes and replies pile up on the cases."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from api_support import add_tokens, bearer, seed_cases
from hypothesis import HealthCheck, settings
from web_support import add_users, live_server, web_config

from mailbot.app import open_database
from mailbot.db.api_models import ApiToken
from mailbot.web.api.openapi import document
from mailbot.web.api.tokens import PREFIX, digest
from mailbot.web.app import create_app

TRIED: Counter[str] = Counter()  # requests made per operation (printed at the end)
ANSWERS: Counter[str] = Counter()  # answers per operation and status code
SERVER_ERRORS: list[str] = []


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    path: Path = tmp_path_factory.mktemp("api") / "api.db"
    config = web_config(f"sqlite:///{path}")
    db = open_database(config)
    add_users(db)
    refs, secret = seed_cases(db, count=12)
    tokens = add_tokens(db)
    with db.transaction() as session:
        scopes = ["read", "write", "confidential"]
        session.add(
            ApiToken(name="schemathesis", token_hash=digest(SECRET), prefix="x", scopes=scopes)
        )
    with live_server(create_app(config, db)) as base:
        yield {"base": base, "tokens": tokens, "refs": refs, "secret": secret}
    db.dispose()
    print(f"\nschemathesis: {TRIED.total()} requests, {len(SERVER_ERRORS)} server errors")
    for line, count in sorted(ANSWERS.items()):
        print(f"  {line}: {count}")


# The document the app serves (test_the_served_document_is_this_one checks it is the same).
schema = schemathesis.openapi.from_dict(document(web_config("sqlite://")))


def test_the_served_document_is_this_one(api: dict[str, Any]) -> None:
    served = httpx.get(f"{api['base']}/api/v1/openapi.json").json()
    assert served == document(web_config("sqlite://"))
    assert served["openapi"].startswith("3.")


# The token the generated requests carry (schemathesis asks for it while collecting, before
# any fixture runs): made here, stored by `api` under its hash like `mailbot tokens add` does.
SECRET = PREFIX + secrets.token_urlsafe(32)


@schema.auth()
class Token:
    """A token with every scope: schemathesis knows the API's auth is provided (and still
    checks on its own that a request without it is refused)."""

    def get(self, case: Any, ctx: Any) -> str:
        return SECRET

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), **bearer(data)}


@schema.parametrize()
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_document(case: Any, api: dict[str, Any]) -> None:
    TRIED[f"{case.method} {case.path}"] += 1
    path = case.path_parameters or {}
    valid = case.meta is None or case.meta.generation.mode == "positive"
    if "reference" in path and valid and TRIED.total() % 3:
        # Two in three valid requests name a real case (confidential one included), so the
        # generated changes, notes and replies run through casework, not only into a 404.
        known = [*api["refs"], api["secret"]]
        path["reference"] = known[TRIED.total() % len(known)]
    response = case.call(base_url=api["base"])
    ANSWERS[f"{case.method} {case.path} {response.status_code}"] += 1
    if response.status_code >= 500:
        SERVER_ERRORS.append(f"{case.method} {case.formatted_path}: {response.status_code}")
    case.validate_response(response)
