"""Acceptance 4: every way a token can be wrong is a 401 in the error shape, and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from urllib.parse import quote

import pytest
from test_central_world import API, X509_GROUP, CentralWorld, assert_error, client, snapshot

from simulator.central.model import App


def _tamper_sig(token: str) -> str:
    head, _, rest = token.partition("sig=")
    _, _, tail = rest.partition("&")
    return f"{head}sig={quote('A' * 43 + '=', safe='')}&{tail}"


def _extend_expiry(token: str) -> str:
    head, _, se = token.rpartition("&se=")
    return f"{head}&se={int(se) + 86_400_000}"


# Each row: how to make the Authorization value from (world, the addressed app, another app); None = no header.
ROWS: dict[str, Callable[[CentralWorld, App, App], str | None]] = {
    "missing": lambda w, app, other: None,
    "empty": lambda w, app, other: "",
    "malformed": lambda w, app, other: "SharedAccessSignature garbage",
    "missing-field": lambda w, app, other: app.issue_api_token().replace("&skn=operator-token", ""),
    "duplicate-field": lambda w, app, other: app.issue_api_token() + "&skn=other",
    "non-numeric-expiry": lambda w, app, other: app.issue_api_token().rsplit("&se=", 1)[0] + "&se=soon",
    "wrong-scheme-SharedAccessToken": lambda w, app, other: app.issue_api_token().replace(
        "SharedAccessSignature", "SharedAccessToken"
    ),
    "basic-scheme": lambda w, app, other: "Basic dXNlcjpwYXNz",
    "bad-signature": lambda w, app, other: _tamper_sig(app.issue_api_token()),
    "extended-expiry": lambda w, app, other: _extend_expiry(app.issue_api_token()),
    "expired": lambda w, app, other: app.issue_api_token(lifetime=timedelta(minutes=5)),
    "revoked": lambda w, app, other: _revoked(app),
    "unknown-bearer": lambda w, app, other: "Bearer " + "0" * 64,
    "empty-bearer": lambda w, app, other: "Bearer ",
    "expired-bearer": lambda w, app, other: app.issue_bearer_token(lifetime=timedelta(minutes=5)),
    "other-app-api-token": lambda w, app, other: other.issue_api_token(),
    "other-app-bearer": lambda w, app, other: other.issue_bearer_token(),
}


def _revoked(app: App) -> str:
    token = app.issue_api_token("ci-token")
    app.tokens.revoke_api_token("ci-token")
    return token


@pytest.mark.parametrize("row", list(ROWS))
def test_token_failures_are_401_and_change_nothing(row: str) -> None:
    world = CentralWorld()
    app = world.central.create_app("contoso")
    other = world.central.create_app("fabrikam")
    app.put_group("existing", dict(X509_GROUP))
    authorization = ROWS[row](world, app, other)
    world.clock.advance(minutes=10)  # past the five-minute lifetimes of the "expired" rows
    before = snapshot(app)
    headers = {} if authorization is None else {"Authorization": authorization}
    with client(world, host="contoso.azureiotcentral.com") as http:
        responses = [
            http.put("/api/enrollmentGroups/new" + API, json=X509_GROUP, headers=headers),
            http.delete("/api/enrollmentGroups/existing" + API, headers=headers),
            http.get("/api/enrollmentGroups" + API, headers=headers),
        ]
    for response in responses:
        assert_error(response, 401, "Unauthorized", world)
    assert snapshot(app) == before


def test_valid_api_and_bearer_tokens_are_accepted_until_they_expire() -> None:
    world = CentralWorld()
    app = world.central.create_app("contoso")
    api_token = app.issue_api_token(lifetime=timedelta(hours=2))
    bearer = app.issue_bearer_token()  # one hour by default
    for token in (api_token, bearer, bearer.replace("Bearer", "bearer")):
        with client(world, app, token=token) as http:
            assert http.get("/api/enrollmentGroups" + API).status_code == 200
    world.clock.advance(minutes=61)
    with client(world, app, token=bearer) as http:
        assert_error(http.get("/api/enrollmentGroups" + API), 401, "Unauthorized")
    with client(world, app, token=api_token) as http:
        assert http.get("/api/enrollmentGroups" + API).status_code == 200
    world.clock.advance(minutes=60)
    with client(world, app, token=api_token) as http:
        assert_error(http.get("/api/enrollmentGroups" + API), 401, "Unauthorized")


def test_the_api_token_has_the_documented_outer_form() -> None:
    world = CentralWorld()
    app = world.central.create_app("contoso")
    token = app.issue_api_token("operator-token")
    scheme, _, fields = token.partition(" ")
    assert scheme == "SharedAccessSignature"
    parts = dict(part.split("=", 1) for part in fields.split("&"))
    assert list(parts) == ["sr", "sig", "skn", "se"]
    assert (parts["sr"], parts["skn"]) == (app.id, "operator-token")
    assert len(parts["se"]) == 13  # milliseconds since the epoch
    expected_ms = int((world.clock.now() + timedelta(days=365)).timestamp() * 1000)
    assert int(parts["se"]) == expected_ms


def test_the_cli_docstring_scheme_can_be_allowed() -> None:
    world = CentralWorld(settings={"accept_shared_access_token_alias": True})
    app = world.central.create_app("contoso")
    alias = app.issue_api_token().replace("SharedAccessSignature", "SharedAccessToken")
    with client(world, app, token=alias) as http:
        assert http.get("/api/enrollmentGroups" + API).status_code == 200
