"""A load generator for figure 3's latency: IoT Central operators verifying proofs over HTTPS, from another process.

Each client owns one enrollment group whose primary certificate is a tenant CA. A round is the real workflow's
last three calls: ``POST …/generateVerificationCode`` (IoT Central), ``GET …/verification/{code}`` (the Sphere
legacy API signs the proof with the tenant CA) and ``POST …/verify`` (IoT Central checks it). Only ``verify`` is
timed. The clients run in a worker process on a CPU of their own (:func:`bench.figures.served_verify_latency`), so
the figure is the served world's answer time under ``clients`` concurrent operators, not the Python scheduling of
clients that share the server's interpreter.
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Operator:
    """One client: its group in IoT Central and the Sphere tenant whose CA is that group's primary certificate."""

    group: str
    tenant_id: str
    sphere_token: str
    thumbprint: str


def verify_latencies(
    central_url: str,
    central_host: str,
    api_token: str,
    sphere_url: str,
    ca_pem: str,
    operators: list[Operator],
    rounds: int,
) -> list[float]:
    """Run every operator's ``rounds`` concurrently; return each ``verify``'s seconds. Runs in the worker process."""
    import ssl

    import httpx

    from harness.clients.sphere_legacy import decode_string_body

    params = {"api-version": "2022-07-31"}
    latencies: list[float] = []

    async def operator_rounds(central: httpx.AsyncClient, sphere: httpx.AsyncClient, operator: Operator) -> None:
        entry = f"{central_url}/api/enrollmentGroups/{operator.group}/certificates/primary"
        proof_url = f"{sphere_url}/tenants/{operator.tenant_id}/verification"
        sphere_auth = {"Authorization": f"Bearer {operator.sphere_token}"}
        for _ in range(rounds):
            response = await central.post(f"{entry}/generateVerificationCode", params=params, json={})
            response.raise_for_status()
            code = response.json()["verificationCode"]
            proof = await sphere.get(
                f"{proof_url}/{code}", params={"thumbprint": operator.thumbprint}, headers=sphere_auth
            )
            proof.raise_for_status()
            certificate = decode_string_body(proof)
            assert certificate is not None and base64.b64decode(certificate), "the Sphere API sent no proof"
            started = time.perf_counter()
            response = await central.post(f"{entry}/verify", params=params, json={"certificate": certificate})
            latencies.append(time.perf_counter() - started)
            response.raise_for_status()

    async def main() -> None:
        trust = ssl.create_default_context(cadata=ca_pem)
        # the client drops an idle kept-alive connection before uvicorn does (5 s), so a request is never sent on a
        # connection the server is closing at that moment ("server disconnected without sending a response")
        limits = httpx.Limits(max_connections=len(operators), keepalive_expiry=1.0)
        timeout = httpx.Timeout(60.0)
        central_headers = {"Authorization": api_token, "Host": central_host}
        async with (
            httpx.AsyncClient(verify=trust, headers=central_headers, limits=limits, timeout=timeout) as central,
            httpx.AsyncClient(verify=trust, limits=limits, timeout=timeout) as sphere,
        ):
            await asyncio.gather(*(operator_rounds(central, sphere, operator) for operator in operators))

    asyncio.run(main())
    return latencies
