"""How the served world's HTTPS listeners hold up against slow, idle and too many clients.

A served world is a shared resource — a classroom of 200 on one laptop, a CI job hammering it — so each listener
bounds what one client can hold:

* **A cap on connections** (:attr:`ListenerLimits.max_connections` per listener). A connection over the cap is
  closed as soon as it is accepted, before any TLS work, and the listener says so in the log (``WARNING``, at most
  once per :data:`CAP_LOG_INTERVAL_S` per listener, with how many were refused meanwhile).
* **TLS in a tracked task.** The handshake runs in a task this module owns (``loop.start_tls`` with a handshake
  timeout), not inside asyncio's server, so a stalled handshake is timed out, and stopping the listener aborts every
  connection at whatever stage it is — nothing is left for the garbage collector to find on a closed loop.
* **Read deadlines** (:func:`with_read_deadlines`). uvicorn times out idle keep-alive connections but not a client
  that stops half-way through a request: a request's headers must arrive within
  :attr:`ListenerLimits.header_timeout_s` of the connection being ready (or of the request's first byte) and its
  body within :attr:`ListenerLimits.body_timeout_s` of the headers; otherwise the connection is closed.

Why hand-written: uvicorn 0.54 has no header or body read timeout and no per-listener connection cap (its
``limit_concurrency`` answers 503 *after* a connection has been accepted, TLS and all, and keeps it), and asyncio's
``Server`` on Python 3.11 cannot enumerate or abort its connections (``abort_clients`` arrived in 3.13).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import h11

log = logging.getLogger(__name__)

#: how often a listener repeats that it is refusing connections over its cap
CAP_LOG_INTERVAL_S = 10.0


@dataclass(frozen=True)
class ListenerLimits:
    """What one client may hold on one listener. Defaults suit a classroom (200 clients) on one machine."""

    #: open connections per listener; more are closed at once (with a log line)
    max_connections: int = 1000
    #: from TCP accept to a finished TLS handshake
    tls_handshake_timeout_s: float = 10.0
    #: how long a TLS close may wait for the client's close_notify
    tls_shutdown_timeout_s: float = 1.0
    #: from the connection being ready (or a request's first byte) to the request's complete headers
    header_timeout_s: float = 10.0
    #: from a request's complete headers to its complete body
    body_timeout_s: float = 30.0
    #: an idle kept-alive connection is closed after this long (uvicorn's ``timeout_keep_alive``)
    keep_alive_s: float = 5.0
    #: MQTT: from a finished TLS handshake to a complete CONNECT packet
    mqtt_connect_timeout_s: float = 10.0


# -- read deadlines on the HTTP protocol --------------------------------------------------------------------------


def with_read_deadlines(protocol_class: type[Any], limits: ListenerLimits) -> type[Any]:
    """A subclass of uvicorn's h11 protocol class that closes a connection whose request does not arrive in time."""

    class ReadDeadlines(protocol_class):  # type: ignore[misc,valid-type]
        _deadline: asyncio.TimerHandle | None = None
        _deadline_state: Any = None
        #: called once when the connection ends (the listener's bookkeeping)
        on_lost: Callable[[], None] | None = None

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm(h11.IDLE, limits.header_timeout_s)  # a client that connects and says nothing

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._follow()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._follow()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            try:
                super().connection_lost(exc)
            finally:
                on_lost, self.on_lost = self.on_lost, None
                if on_lost is not None:
                    on_lost()

        # -- the deadline --

        def _follow(self) -> None:
            """Arm, move or drop the deadline after bytes arrived or a response went out."""
            state = self.conn.their_state
            if state is h11.SEND_BODY:
                if self._deadline_state is not h11.SEND_BODY:
                    self._arm(h11.SEND_BODY, limits.body_timeout_s)
            elif state is h11.IDLE and self.conn.trailing_data[0]:
                if self._deadline_state is not h11.IDLE:  # the first bytes of a request: its headers are due
                    self._arm(h11.IDLE, limits.header_timeout_s)
            else:
                self._disarm()  # a whole request is in (or the connection is ending): the app has it

        def _arm(self, state: Any, seconds: float) -> None:
            self._disarm()
            self._deadline_state = state
            self._deadline = self.loop.call_later(seconds, self._expire)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._deadline = None
            self._deadline_state = None

        def _expire(self) -> None:
            self._deadline = None
            state, self._deadline_state = self._deadline_state, None
            if self.conn.their_state is not state or self.transport.is_closing():
                return
            if state is h11.IDLE and self.cycle is not None and not self.cycle.response_complete:
                return  # a response is still being written: not a stalled read
            what = "the request's body" if state is h11.SEND_BODY else "a request"
            log.info("closing %s:%s: %s did not arrive in time", *(self.client or ("client", "")), what)
            self.transport.abort()

    ReadDeadlines.__name__ = ReadDeadlines.__qualname__ = f"ReadDeadlines{protocol_class.__name__}"
    return ReadDeadlines


# -- the listener -------------------------------------------------------------------------------------------------


class _Handoff(asyncio.Protocol):
    """Holds a TLS connection's first bytes until the HTTP protocol is attached (``start_tls`` may deliver
    application data before the task awaiting it resumes)."""

    def __init__(self) -> None:
        self.target: asyncio.Protocol | None = None
        self.pending: list[bytes] = []
        self.eof = False
        self.lost: tuple[Exception | None] | None = None

    def data_received(self, data: bytes) -> None:
        if self.target is not None:
            self.target.data_received(data)
        else:
            self.pending.append(data)

    def eof_received(self) -> bool | None:
        if self.target is not None:
            return self.target.eof_received()
        self.eof = True
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.target is not None:
            self.target.connection_lost(exc)
        else:
            self.lost = (exc,)

    def attach(self, transport: asyncio.Transport, target: asyncio.Protocol) -> None:
        transport.set_protocol(target)
        self.target = target
        target.connection_made(transport)
        for chunk in self.pending:
            if transport.is_closing():
                break
            target.data_received(chunk)
        self.pending.clear()
        if self.eof:
            target.eof_received()
        if self.lost is not None:
            target.connection_lost(self.lost[0])


class _Accepting(asyncio.Protocol):
    """The protocol of a freshly accepted TCP connection: admit it (or refuse it over the cap), then hand it to TLS."""

    def __init__(self, listener: TlsListener) -> None:
        self.listener = listener

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()  # not a byte before the TLS layer is in place
        self.listener._admit(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        pass  # before start_tls replaced this protocol: the task sees the failure


class TlsListener:
    """One HTTPS listening socket: caps connections, runs each TLS handshake in a tracked task, then attaches an
    HTTP protocol from ``protocol_factory`` (which must accept an ``on_lost`` attribute, see
    :func:`with_read_deadlines`). ``before_handshake`` runs before each handshake. :meth:`abort_all` ends every
    connection, whatever its stage."""

    def __init__(
        self,
        name: str,
        sock: Any,
        context: ssl.SSLContext,
        protocol_factory: Callable[[], asyncio.Protocol],
        limits: ListenerLimits,
        *,
        before_handshake: Callable[[], object] | None = None,
    ) -> None:
        self.name = name
        self.before_handshake = before_handshake
        self.sock = sock
        self.context = context
        self.protocol_factory = protocol_factory
        self.limits = limits
        self.server: asyncio.Server | None = None
        #: every admitted connection's TCP transport, from accept to close
        self.transports: set[asyncio.Transport] = set()
        self._handshakes: set[asyncio.Task[None]] = set()
        self._refused = 0
        self._last_cap_log = 0.0
        self._closing = False

    @property
    def connections(self) -> int:
        """How many connections this listener holds now (handshaking or established)."""
        return len(self.transports)

    async def start(self) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: _Accepting(self), sock=self.sock, backlog=1024)
        return self.server

    def _admit(self, transport: asyncio.Transport) -> None:
        if self._closing:
            transport.abort()
            return
        if len(self.transports) >= self.limits.max_connections:
            transport.abort()
            self._refused += 1
            now = time.monotonic()
            if now - self._last_cap_log >= CAP_LOG_INTERVAL_S:
                log.warning(
                    "%s listener: %d connections open, the cap (max_connections=%d): refused %d new connection(s)",
                    self.name,
                    len(self.transports),
                    self.limits.max_connections,
                    self._refused,
                )
                self._last_cap_log, self._refused = now, 0
            return
        self.transports.add(transport)
        task = asyncio.get_running_loop().create_task(self._upgrade(transport))
        self._handshakes.add(task)
        task.add_done_callback(self._handshakes.discard)

    async def _upgrade(self, transport: asyncio.Transport) -> None:
        loop = asyncio.get_running_loop()
        handoff = _Handoff()
        try:
            if self.before_handshake is not None:
                self.before_handshake()  # e.g. the DPS listener brings its trust up to date
            tls = await loop.start_tls(
                transport,
                handoff,
                self.context,
                server_side=True,
                ssl_handshake_timeout=self.limits.tls_handshake_timeout_s,
                ssl_shutdown_timeout=self.limits.tls_shutdown_timeout_s,
            )
        except (OSError, ssl.SSLError, ConnectionError, TimeoutError, asyncio.CancelledError) as exc:
            log.debug("%s listener: TLS handshake failed: %r", self.name, exc)
            self._release(transport)
            transport.abort()
            return
        if tls is None or transport.is_closing():
            self._release(transport)
            return
        protocol = self.protocol_factory()
        protocol.on_lost = lambda: self._release(transport)  # type: ignore[attr-defined]
        handoff.attach(tls, protocol)

    def _release(self, transport: asyncio.Transport) -> None:
        self.transports.discard(transport)

    def close(self) -> None:
        """Stop accepting (connections already open go on until :meth:`abort_all`)."""
        self._closing = True
        if self.server is not None:
            self.server.close()

    async def abort_all(self) -> None:
        """End every connection now — handshaking, idle or mid-request — and let asyncio finish closing them."""
        self.close()
        for task in list(self._handshakes):
            task.cancel()
        for transport in list(self.transports):
            transport.abort()
        self.transports.clear()
        for _ in range(3):  # connection_lost callbacks run on the next iterations
            await asyncio.sleep(0)
        if self._handshakes:
            await asyncio.gather(*self._handshakes, return_exceptions=True)
