"""A load generator for figure 3: simulated devices registering over MQTT/TLS from a separate process.

The served world (its MQTT listener, the DPS and IoT Central models) runs in the benchmark's process; the devices
that load it run in a worker process, as real devices are separate machines. Keeping both in one process would
measure the GIL — every client's MQTT framing and TLS record work competing with the server's — instead of the
server. A device here is what a real one holds: its private key and certificate chain (the files
:func:`simulator.device.export_devices` writes, the same ones the Azure device SDK loads), and it registers the way
the SDK does through :func:`simulator.device.register_over_mqtt`.

Each device's TLS client context is built before the clock starts (a device loads its key once, at boot); what is
timed is ``concurrency`` devices at once, each connecting, subscribing, publishing ``iotdps-register`` and polling
until assigned, until the last one is done.
"""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class DeviceFiles:
    """A device as the SDK sees it: registration ID (the certificate's CN), key file and chain file."""

    registration_id: str
    key_file: str
    cert_file: str


def client_context(ca_pem: str, device: DeviceFiles) -> ssl.SSLContext:
    """The TLS 1.2 client context the device SDK makes: trust the served CA, present the device's chain."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cadata=ca_pem)
    context.load_cert_chain(device.cert_file, device.key_file)
    return context


def register_devices(
    host: str, port: int, id_scope: str, ca_pem: str, devices: list[DeviceFiles], concurrency: int
) -> tuple[float, float]:
    """Register every device, ``concurrency`` at a time; return the seconds from the start signal to the last one,
    and the CPU seconds this process spent meanwhile (the devices' share: is the load generator the bottleneck?).

    Runs in the worker process. Raises ``RuntimeError`` if any device is not assigned.
    """
    from simulator.device import register_over_mqtt

    prepared = [(device.registration_id, client_context(ca_pem, device)) for device in devices]
    shares = [prepared[i::concurrency] for i in range(concurrency)]
    failures: list[str] = []
    start = threading.Barrier(concurrency + 1)

    def run(share: list[tuple[str, ssl.SSLContext]]) -> None:
        start.wait()
        for registration_id, context in share:
            try:
                result = register_over_mqtt(host, port, id_scope, registration_id, context, poll_interval=0.0)
            except Exception as exc:  # reported to the parent below
                failures.append(f"{registration_id[:12]}…: {type(exc).__name__}: {exc}")
                continue
            if result.status != "assigned":
                failures.append(f"{registration_id[:12]}…: {result}")

    threads = [threading.Thread(target=run, args=(share,), daemon=True) for share in shares]
    for thread in threads:
        thread.start()
    start.wait()
    began, began_cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.join()
    elapsed, cpu = time.perf_counter() - began, time.process_time() - began_cpu
    if failures:
        raise RuntimeError(f"{len(failures)} device(s) not assigned over MQTT, e.g. {failures[0]}")
    return elapsed, cpu
