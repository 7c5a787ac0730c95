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
import os
import random
import ssl
import time
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


class WireClient:
    """An ``httpx.Client`` bound to one service: base URL, auth, retries and that service's error type."""

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
        if isinstance(verify, str):
            verify = ssl.create_default_context(cafile=verify)
        elif verify is True:  # the public trust store, parsed once per process instead of once per client
            verify = _public_trust(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
        self.http = httpx.Client(
            headers=headers,
            verify=verify,
            timeout=timeout,
            transport=transport,
            event_hooks={"request": [self._observe]},
        )

    def _observe(self, request: httpx.Request) -> None:
        for observe in REQUEST_OBSERVERS:
            observe(self.service, request)

    def close(self) -> None:
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
            send_headers = dict(headers or {})
            if self.auth is not None:
                send_headers["Authorization"] = self.auth.header()
            request = self.http.build_request(
                method, url, params=params, json=json, content=content, headers=send_headers
            )
            if self.guard is not None:
                self.guard(request.method, str(request.url))
            started = time.perf_counter()
            try:
                response = self.http.send(request)
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
