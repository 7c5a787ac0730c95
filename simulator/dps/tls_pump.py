"""TLS for the MQTT listener through memory BIOs: one asyncio protocol per connection, no ``start_tls``.

asyncio's own TLS (``StreamWriter.start_tls``) runs every record through ``sslproto``'s Python state machine and a
second transport on top of the TCP one; for a device that sends four small packets and goes, that machinery is a
tenth of the server's CPU per registration (BENCHMARKS.md). This module does the same job with what the ``ssl``
module offers directly — an :class:`ssl.SSLObject` over two :class:`ssl.MemoryBIO` — and hands the MQTT connection
the two objects it uses from asyncio streams: a reader (``read(n)``) and a writer (``write``, ``drain``,
``get_extra_info("ssl_object")``, ``close``/``wait_closed``, ``transport``).

What it keeps of asyncio's streams, because the listener's guarantees rest on it:

* **Flow control both ways.** Reading pauses while more than :data:`READ_LIMIT` decrypted bytes wait for the MQTT
  connection (a client flooding a slow server cannot grow its buffer); ``drain`` waits while the TCP transport's
  write buffer is above its high-water mark (a client that never reads cannot grow the server's).
* **Every wait can be cancelled.** The handshake is awaited by the connection's own task (:meth:`TlsPump.handshake`)
  — so the listener's handshake timeout and its shutdown cancel it like any other await — and a lost connection
  ends every wait with :class:`ConnectionResetError` or end of file.
* **Closing.** ``close`` sends the TLS close_notify and closes the TCP transport once its buffer is written; it does
  not wait for the client's close_notify (a registering device never sends one before it drops the socket).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

#: decrypted bytes that may wait for the reader before the socket is no longer read (asyncio streams use 64 KiB)
READ_LIMIT = 64 * 1024


class TlsReader:
    """The reading half: decrypted bytes in arrival order, end of file once the client is gone."""

    def __init__(self, pump: TlsPump) -> None:
        self._pump = pump
        self._buffer = bytearray()
        self._eof = False
        self._waiter: asyncio.Future[None] | None = None

    def feed(self, data: bytes) -> None:
        self._buffer += data
        self._wake()

    def feed_eof(self) -> None:
        self._eof = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    async def read(self, n: int) -> bytes:
        """Up to ``n`` bytes; ``b""`` once the client closed and everything before was read."""
        while not self._buffer and not self._eof:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        self._pump.reader_drained()
        return data


class TlsWriter:
    """The writing half, shaped like :class:`asyncio.StreamWriter` where the MQTT connection uses one."""

    def __init__(self, pump: TlsPump) -> None:
        self._pump = pump
        self.transport = pump.transport

    def write(self, data: bytes) -> None:
        self._pump.send(data)

    async def drain(self) -> None:
        await self._pump.drained()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "ssl_object":
            return self._pump.ssl_object
        return self.transport.get_extra_info(name, default)

    def close(self) -> None:
        self._pump.close()

    async def wait_closed(self) -> None:
        await self._pump.closed()


class TlsPump(asyncio.Protocol):
    """One accepted TCP connection with TLS kept in memory BIOs (see the module docstring).

    ``on_connection(pump)`` is called from ``connection_made``: it starts (and tracks) the task that awaits
    :meth:`handshake` and serves the connection through :attr:`reader` and :attr:`writer`, or refuses the connection
    by aborting ``pump.transport``. ``context_for()`` gives the server context to use, brought up to date.
    """

    def __init__(self, context_for: Callable[[], ssl.SSLContext], on_connection: Callable[[TlsPump], None]) -> None:
        self._context_for = context_for
        self._on_connection = on_connection
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.ssl_object: ssl.SSLObject | None = None
        self.reader = TlsReader(self)
        self.writer: TlsWriter = None  # type: ignore[assignment]
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._handshaken: asyncio.Future[None] | None = None
        self._lost: asyncio.Future[None] | None = None
        self._writable: asyncio.Event | None = None
        self._reading_paused = False

    # -- asyncio.Protocol --

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        loop = asyncio.get_running_loop()
        self.transport = transport
        self.writer = TlsWriter(self)
        self._handshaken = loop.create_future()
        self._lost = loop.create_future()
        self._writable = asyncio.Event()
        self._writable.set()
        self._on_connection(self)  # may abort the transport (cap, shutdown): then no TLS work is done

    def data_received(self, data: bytes) -> None:
        self._incoming.write(data)
        if self.ssl_object is None:
            return  # refused at connection_made; the transport is going
        assert self._handshaken is not None
        if not self._handshaken.done():
            try:
                self.ssl_object.do_handshake()
            except ssl.SSLWantReadError:
                self._flush()
                return
            except ssl.SSLError as exc:
                self._flush()  # the alert tells the client why
                self._fail_handshake(exc)
                return
            self._flush()
            self._handshaken.set_result(None)
        elif self._handshaken.cancelled() or self._handshaken.exception() is not None:
            return
        self._decrypt()

    def eof_received(self) -> bool:
        self.reader.feed_eof()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.reader.feed_eof()
        if self._handshaken is not None and not self._handshaken.done():
            self._fail_handshake(ConnectionResetError("the client closed the connection during TLS"))
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)
        if self._writable is not None:
            self._writable.set()  # wake a drain: it then finds the connection gone

    def pause_writing(self) -> None:
        assert self._writable is not None
        self._writable.clear()

    def resume_writing(self) -> None:
        assert self._writable is not None
        self._writable.set()

    # -- for the listener --

    def start_tls(self) -> None:
        """Begin TLS with the server context (after the listener admitted the connection)."""
        self.ssl_object = self._context_for().wrap_bio(self._incoming, self._outgoing, server_side=True)

    async def handshake(self) -> None:
        """Wait for the TLS handshake: raises :class:`ssl.SSLError` if it failed, ``ConnectionResetError`` if the
        client went. Cancelling the wait (a timeout, the listener stopping) leaves the caller to abort."""
        assert self._handshaken is not None
        await asyncio.shield(self._handshaken)

    def _fail_handshake(self, exc: BaseException) -> None:
        assert self._handshaken is not None
        self._handshaken.set_exception(exc)
        self._handshaken.exception()  # retrieved: the task that awaits it may be gone (shutdown), nothing to log

    # -- for the reader and writer --

    def _decrypt(self) -> None:
        assert self.ssl_object is not None
        while True:
            try:
                chunk = self.ssl_object.read(65536)
            except ssl.SSLWantReadError:
                break
            except (ssl.SSLZeroReturnError, ssl.SSLError):  # close_notify, or a record that does not decrypt
                self.reader.feed_eof()
                break
            if not chunk:
                self.reader.feed_eof()
                break
            self.reader.feed(chunk)
        self._flush()  # TLS 1.3 may answer (key updates)
        if self.reader.buffered > READ_LIMIT and not self._reading_paused and not self.transport.is_closing():
            self._reading_paused = True
            self.transport.pause_reading()

    def reader_drained(self) -> None:
        if self._reading_paused and self.reader.buffered <= READ_LIMIT // 2 and not self.transport.is_closing():
            self._reading_paused = False
            self.transport.resume_reading()

    def _flush(self) -> None:
        data = self._outgoing.read()
        if data and not self.transport.is_closing():
            self.transport.write(data)

    def send(self, data: bytes) -> None:
        if self.ssl_object is None or self.transport.is_closing():
            return  # like a StreamWriter on a closing transport: the bytes go nowhere; drain reports the loss
        self.ssl_object.write(data)
        self._flush()

    async def drained(self) -> None:
        assert self._writable is not None and self._lost is not None
        if self._lost.done():
            raise ConnectionResetError("connection lost")
        await self._writable.wait()
        if self._lost.done():
            raise ConnectionResetError("connection lost")

    def close(self) -> None:
        """Send close_notify (once a session exists) and close the TCP transport after its buffer."""
        if self.transport.is_closing():
            return
        if self.ssl_object is not None and self._handshaken is not None and self._handshaken.done():
            try:
                self.ssl_object.unwrap()
            except ssl.SSLError:  # close_notify queued; the client's own is not waited for
                pass
            self._flush()
        self.transport.close()

    async def closed(self) -> None:
        assert self._lost is not None
        await asyncio.shield(self._lost)
