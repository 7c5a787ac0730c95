"""What every wire client shares: one ``httpx.Client``, authentication, bounded retries, typed errors.

**Retries.** Azure answers overload with ``429`` and transient trouble with ``5xx``, often with a ``Retry-After``
header (seconds, or an HTTP date). :class:`RetryPolicy` retries those answers — and, for idempotent methods,
requests that got no answer at all — a bounded number of times, waiting ``Retry-After`` when given (capped) and
an exponential backoff otherwise. It sleeps through an injectable ``sleep`` so tests never wait::

    slept = []
    client = SphereLegacyClient(auth, retry=RetryPolicy(sleep=slept.append))

**Errors.** Any other non-2xx answer becomes the service's :class:`~harness.clients.errors.ServiceError`
subclass, parsed from the real error shape.

**Targets.** ``base_url`` defaults to the real Azure host; the served fake passes its loopback URL and
``verify=<CA bundle path>``; the in-process fake needs nothing (respx routes the real hosts). ``host_header``
sends a different ``Host`` than the URL's — how a client reaches one IoT Central app of a served world by its
subdomain while dialling ``127.0.0.1``.

**Hooks.** ``on_exchange`` hears every exchange (:class:`~harness.clients.exchange.Exchange`: request, answer or
transport failure, each retried attempt too) once its answer is read — recordings and reports are built on it.
``guard(method, url)`` is asked before anything is sent and refuses a request by raising — how a live run keeps to
its allow-list and a ``--plan`` run to reads. ``transport`` replaces the network (a recording's replay).
"""

from __future__ import annotations

import email.utils
import functools
import http.cookiejar
import os
import random
import ssl
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from harness.clients.auth import AuthProvider
from harness.clients.errors import ServiceError, TransportFailure
from harness.clients.exchange import Exchange, ExchangeListener, RequestGuard

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
USER_AGENT = "sphere-harness/0.1"


@dataclass
class RetryPolicy:
    """Bounded retries of 429/5xx (any method) and of transport failures (idempotent methods only).

    ``attempts`` counts the first try. ``Retry-After`` is honoured up to ``max_retry_after_s``; without it the
    wait is ``backoff_s * 2**n`` (plus a little jitter) capped at ``max_backoff_s``.

    **Why a dropped ``POST`` is not retried.** A 429 or 5xx *answer* says the service did not do the work, so any
    method may be sent again. A connection that dropped before the answer says nothing of the kind: a ``POST
    …/verify`` may have verified the entry (and consumed its code) before the connection went, and sending it
    again would then fail with ``VerificationCodeNotFound`` — hiding the drop behind a misleading error, or, for
    ``generateVerificationCode``, silently replacing the code the caller is about to use. The Azure SDKs make the
    same choice: azure-core's ``RetryPolicy`` retries a failed connection only for the methods in its allow-list
    (``HEAD GET PUT DELETE OPTIONS TRACE``), and a ``POST``/``PATCH`` only on a 500/503/504 *answer*. So a
    ``POST`` or ``PATCH`` that gets no answer raises :class:`~harness.clients.errors.TransportFailure` at once,
    and the caller — a scenario with ``expect_error: {transport: true}`` — checks the state and decides.
    """

    attempts: int = 4
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    max_retry_after_s: float = 60.0
    statuses: frozenset[int] = RETRY_STATUSES
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = field(default=random.random)

    def wait_for(self, attempt: int, response: httpx.Response | None) -> float:
        """Seconds to wait before try number ``attempt + 1`` (``attempt`` counts from 1)."""
        if response is not None:
            after = parse_retry_after(response.headers.get("retry-after"))
            if after is not None:
                return min(after, self.max_retry_after_s)
        return min(self.backoff_s * (2 ** (attempt - 1)) * (1 + 0.1 * self.jitter()), self.max_backoff_s)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: a non-negative number, or an HTTP date (RFC 9110 §10.2.3); else None."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
    return seconds if seconds >= 0 and seconds == seconds and seconds != float("inf") else None


VerifyTypes = bool | str | ssl.SSLContext

#: Functions ``observe(service, request)`` called with every request a wire client is about to send (its
#: ``service`` name and the ``httpx.Request``). An observation seam: the project's test suite checks there that
#: what the harness sends is what Azure's published documents allow (``tests/contracts/``).
REQUEST_OBSERVERS: list[Callable[[str, httpx.Request], None]] = []


@functools.lru_cache(maxsize=4)
def _public_trust(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """httpx's ``verify=True`` context (certifi, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``), built once per setting.

    Loading the CA store costs tens of milliseconds and every harness client would otherwise repeat it; an
    ``SSLContext`` is safe to share between clients and threads once configured.
    """
    return httpx.create_ssl_context(verify=True)


def _proxy_environment() -> tuple[Any, ...]:
    """What httpx reads from the environment for proxies (``trust_env``), as a key: equal keys, equal proxies.

    httpx takes them from :func:`urllib.request.getproxies` — every ``*_proxy`` variable in any letter case, and
    ``REQUEST_METHOD`` (a CGI process ignores ``HTTP_PROXY``). Scanning ``os.environ`` through its mapping decodes
    every variable (~0.1 ms); its underlying table is read directly where CPython has one. macOS and Windows also
    read the system's proxy settings, so there the key is what :func:`~urllib.request.getproxies` answers.
    """
    table = getattr(os.environ, "_data", None)
    if sys.platform in ("darwin", "win32") or not isinstance(table, dict):
        return tuple(sorted(urllib.request.getproxies().items()))
    return tuple(
        (name, value)
        for name, value in table.items()
        if isinstance(name, bytes) and (name[-6:].lower() == b"_proxy" or name == b"REQUEST_METHOD")
    )


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """The policy of a shared client's own jar: it keeps no cookie (each :class:`WireClient` keeps its own)."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


_shared_lock = threading.Lock()
_shared: dict[tuple[Any, ...], httpx.Client] = {}


def _shared_client(verify: ssl.SSLContext | bool, timeout: float) -> httpx.Client:
    """The process's ``httpx.Client`` for ``verify`` (public trust, or none) and ``timeout``, made on first use.

    Building an ``httpx.Client`` costs ~0.2 ms — over half of it reading the environment's proxy settings — and a
    run builds four; shared clients make that once per process. A shared client holds nothing of a run: no default
    headers (each request carries its client's), no event hooks (the client calls its observers), no cookies (its
    jar keeps none; each :class:`WireClient` keeps its own). It is keyed by the environment's proxy settings, so a
    run after a change of ``HTTPS_PROXY`` gets a client that honours it, as a new client would. ``httpx.Client``
    may be used from several threads at once (its connection pool locks).
    """
    key = (verify, timeout, _proxy_environment())
    client = _shared.get(key)
    if client is None:
        with _shared_lock:
            client = _shared.get(key)
            if client is None:
                jar = http.cookiejar.CookieJar(policy=_NoCookies())
                client = _shared[key] = httpx.Client(verify=verify, timeout=timeout, cookies=jar)
    return client


class WireClient:
    """An ``httpx.Client`` bound to one service: base URL, auth, retries and that service's error type.

    **Shared ``httpx.Client``.** With the public trust store (``verify=True``, the in-process and live targets) or
    ``verify=False`` and no ``transport``, the client sends through a per-process ``httpx.Client``
    (:func:`_shared_client`) with its own headers and cookies: what goes on the wire is what a client of its own
    would send. A served target's CA bundle or a caller's own ``SSLContext`` or transport gets a client of its own,
    closed by :meth:`close`.
    """

    error_type: ClassVar[type[ServiceError]] = ServiceError
    service: ClassVar[str] = "service"

    def __init__(
        self,
        base_url: str,
        auth: AuthProvider | None,
        *,
        verify: VerifyTypes = True,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        host_header: str | None = None,
        transport: httpx.BaseTransport | None = None,
        on_request: Callable[[str, str, int, float], None] | None = None,
        on_exchange: ExchangeListener | None = None,
        guard: RequestGuard | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.retry = retry or RetryPolicy()
        self.on_request = on_request
        self.on_exchange = on_exchange
        self.guard = guard
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if host_header:
            headers["Host"] = host_header
        #: the cookies the service set for this client (a shared ``httpx.Client`` keeps none)
        self.cookies = httpx.Cookies()
        shareable = transport is None and isinstance(verify, bool)
        if isinstance(verify, str):
            verify = ssl.create_default_context(cafile=verify)
        elif verify is True:  # the public trust store, parsed once per process instead of once per client
            verify = _public_trust(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
        self._owned = not shareable
        if shareable:
            self.http = _shared_client(verify, timeout)
        else:
            self.http = httpx.Client(verify=verify, timeout=timeout, transport=transport)
        #: the headers every request of this client starts from: httpx's defaults updated with this client's, as
        #: ``httpx.Client(headers=…)`` holds them (kept here, not on a shared client; same names, values, order)
        self.headers = httpx.Headers(self.http.headers)
        self.headers.update(headers)

    def _observe(self, request: httpx.Request) -> None:
        for observe in REQUEST_OBSERVERS:
            observe(self.service, request)

    def close(self) -> None:
        """Close this client's own ``httpx.Client``; a shared one stays open for the next run of the process."""
        if self._owned:
            self.http.close()

    def __enter__(self) -> WireClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, path: str) -> str:
        return path if path.startswith(("https://", "http://")) else f"{self.base_url}{path}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> httpx.Response:
        """Send with retries; return the response if its status is in ``ok``, else raise the service's error."""
        url = self.url(path)
        attempt = 0
        while True:
            attempt += 1
            extra = dict(headers or {})
            if self.auth is not None:
                extra["Authorization"] = self.auth.header()
            send_headers = httpx.Headers(self.headers)  # merged as httpx merges a request's headers into its client's
            send_headers.update(extra)
            request = self.http.build_request(
                method,
                url,
                params=params,
                json=json,
                content=content,
                headers=send_headers,
                cookies=self.cookies if self.cookies else None,
            )
            if self.guard is not None:
                self.guard(request.method, str(request.url))
            self._observe(request)
            started = time.perf_counter()
            try:
                response = self.http.send(request)
                if "set-cookie" in response.headers:
                    self.cookies.extract_cookies(response)
            except httpx.TransportError as exc:
                again = method.upper() in IDEMPOTENT_METHODS and attempt < self.retry.attempts
                if self.on_exchange:  # a listener may be falsy while nobody listens
                    seconds = time.perf_counter() - started
                    self.on_exchange(
                        Exchange.from_failure(
                            self.service, request, exc, seconds=seconds, attempt=attempt, retried=again
                        )
                    )
                if again:
                    self.retry.sleep(self.retry.wait_for(attempt, None))
                    continue
                raise TransportFailure(self.service, method, url, exc) from exc
            seconds = time.perf_counter() - started
            if self.on_request is not None:
                self.on_request(method, url, response.status_code, seconds)
            again = response.status_code in self.retry.statuses and attempt < self.retry.attempts
            if self.on_exchange:  # a listener may be falsy while nobody listens
                self.on_exchange(
                    Exchange.from_response(self.service, response, seconds=seconds, attempt=attempt, retried=again)
                )
            if again:
                self.retry.sleep(self.retry.wait_for(attempt, response))
                continue
            if response.status_code in ok:
                return response
            raise self.error_type.from_response(response)
