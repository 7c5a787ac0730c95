"""Wire clients share one ``httpx.Client`` per process and still send exactly what a client of their own would.

Building an ``httpx.Client`` reads the environment's proxy settings and costs ~0.2 ms; a run builds four
(BENCHMARKS.md, session 5). With the public trust store and no transport of their own, harness clients send through
a per-process client instead (:func:`harness.clients.base._shared_client`). These tests pin what must not change:
the bytes of every request header, each client's own headers and cookies (nothing of one run reaches another),
proxy settings changed between runs, ``close()``, and use from several threads.
"""

from __future__ import annotations

import ssl
import threading

import httpx
import pytest
import respx

from harness.clients import CentralClient, SphereLegacyClient, StaticToken
from harness.clients.base import USER_AGENT, WireClient, _shared_client

LEGACY = "https://prod.core.sphere.azure.net/v2"


def legacy(token: str = "t-1", **kwargs: object) -> SphereLegacyClient:
    return SphereLegacyClient(StaticToken(token), LEGACY, **kwargs)  # type: ignore[arg-type]


def test_clients_with_the_public_trust_store_share_one_httpx_client() -> None:
    one, two = legacy("a"), CentralClient(StaticToken("b"), subdomain="contoso")
    assert one.http is two.http
    own = legacy(verify=ssl.create_default_context())  # a caller's own context: a client of its own
    assert own.http is not one.http
    with httpx.Client() as transport_owner:
        replayed = legacy(transport=transport_owner._transport)
        assert replayed.http is not one.http
    one.close()
    assert not two.http.is_closed  # a shared client outlives the clients that used it
    own.close()
    assert own.http.is_closed


def test_a_shared_client_sends_the_very_headers_a_client_of_its_own_sent() -> None:
    """Byte for byte, in order, what the harness sent when each client built its own ``httpx.Client`` with its
    headers on it (the code before the clients were shared)."""
    seen: list[list[tuple[bytes, bytes]]] = []
    caller = {"accept": "text/plain", "X-Extra": "1"}
    with respx.mock(assert_all_called=False) as router:
        router.get(url__startswith="https://").mock(
            side_effect=lambda request: (seen.append(list(request.headers.raw)), httpx.Response(200, json={}))[1]
        )
        client = CentralClient(
            StaticToken("token"), subdomain="contoso", base_url="https://127.0.0.1:1", host_header="x.y"
        )
        client.request("GET", "/devices", params={"api-version": "2022-07-31"}, headers=caller)
        with httpx.Client(headers={"User-Agent": USER_AGENT, "Accept": "application/json", "Host": "x.y"}) as old:
            old.get(
                "https://127.0.0.1:1/api/devices?api-version=2022-07-31",
                headers={**caller, "Authorization": "Bearer token"},
            )
    assert len(seen) == 2
    assert seen[0] == seen[1]
    assert [name.lower() for name, _ in seen[0]].count(b"accept") == 1
    assert (b"accept", b"text/plain") in seen[0] and (b"Host", b"x.y") in seen[0]


def test_cookies_stay_with_the_client_the_service_gave_them_to() -> None:
    cookies: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        cookies.append(request.headers.get("cookie"))
        return httpx.Response(200, json={}, headers={"Set-Cookie": "slice=7; Path=/; Secure"})

    with respx.mock(assert_all_called=False) as router:
        router.get(url__startswith=LEGACY).mock(side_effect=answer)
        first, second = legacy("a"), legacy("b")
        assert first.http is second.http
        first.request("GET", "/tenants")
        first.request("GET", "/tenants")
        second.request("GET", "/tenants")
    assert cookies == [None, "slice=7", None]
    assert not first.http.cookies  # the shared client itself keeps nothing


def test_a_change_of_the_proxy_environment_gets_a_client_that_honours_it(monkeypatch: pytest.MonkeyPatch) -> None:
    before = legacy().http
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    after = legacy().http
    assert after is not before
    assert any(transport is not None for transport in after._mounts.values())  # the proxy's transport
    monkeypatch.delenv("HTTPS_PROXY")
    assert legacy().http is before


def test_threads_share_the_client_and_keep_their_own_headers() -> None:
    seen: dict[str, set[str]] = {}
    lock = threading.Lock()

    def answer(request: httpx.Request) -> httpx.Response:
        with lock:
            seen.setdefault(request.headers["authorization"], set()).add(request.headers.get("cookie") or "")
        return httpx.Response(200, json={}, headers={"Set-Cookie": f"who={request.headers['authorization'][7:]}"})

    errors: list[BaseException] = []

    def run(token: str) -> None:
        try:
            client = legacy(token)
            for _ in range(20):
                client.request("GET", "/tenants")
        except BaseException as exc:  # reported below
            errors.append(exc)

    with respx.mock(assert_all_called=False) as router:
        router.get(url__startswith=LEGACY).mock(side_effect=answer)
        threads = [threading.Thread(target=run, args=(f"t{i}",)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors
    assert seen == {f"Bearer t{i}": {"", f"who=t{i}"} for i in range(4)}


def test_the_shared_client_is_one_per_setting() -> None:
    trust = ssl.create_default_context()
    assert _shared_client(trust, 30.0) is _shared_client(trust, 30.0)
    assert _shared_client(trust, 30.0) is not _shared_client(trust, 5.0)
    assert _shared_client(False, 30.0) is not _shared_client(trust, 30.0)
    assert isinstance(WireClient("https://example.invalid", None, verify=False).http, httpx.Client)
