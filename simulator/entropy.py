"""The world's random source: one seed makes keys, ids, codes and serials repeatable.

Every model draws randomness from an :class:`Entropy` instead of :mod:`secrets`. With ``seed=None`` it is
backed by the operating system's CSPRNG; with an integer seed it is a deterministic stream, so two runs with
the same seed produce the same tenant ids, verification codes, certificate serials — and even the same EC
private keys (:meth:`Entropy.ec_private_key` derives the scalar from the stream).

Deterministic mode is for tests and training, never for protecting anything real.

**A world's secret.** The same seed gives the same IDs and keys in every world — but a token must only work in the
world that issued it (issue 16: a restarted world with the same seed reissued the killed world's tokens, so they
still worked). A world therefore also has a ``secret`` of its own (random unless given; kept with the world when it
is persisted), which every stream forked from it carries. Secret material — bearer tokens, API-token signing keys —
goes through :meth:`Entropy.seal`: the bytes drawn from the stream are bound to the secret (HMAC-SHA256), so the
stream advances exactly as before (IDs and codes stay repeatable) while the token differs from world to world.
Without a secret ``seal`` changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
import threading

from cryptography.hazmat.primitives.asymmetric import ec

_ORDERS = {
    "secp256r1": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "secp384r1": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973,
}


class Entropy:
    """A seedable source of bytes, hex strings, UUIDs, serial numbers and EC keys."""

    def __init__(self, seed: int | None = None, *, secret: bytes | None = None) -> None:
        self.seed = seed
        self.secret = secret
        self._lock = threading.Lock()
        self._random = random.Random(seed) if seed is not None else None

    @property
    def deterministic(self) -> bool:
        return self._random is not None

    def bytes(self, n: int) -> bytes:
        if self._random is None:
            return secrets.token_bytes(n)
        with self._lock:
            return self._random.randbytes(n)

    def hex(self, n_bytes: int, *, upper: bool = False) -> str:
        value = self.bytes(n_bytes).hex()
        return value.upper() if upper else value

    def uuid(self) -> str:
        """A version-4 UUID string, e.g. for tenant, operation and request ids.

        The same text as ``str(uuid.UUID(bytes=…, version=4))`` — version nibble 4, variant bits ``10`` — formatted
        directly (a fleet rollout draws three per device)."""
        raw = bytearray(self.bytes(16))
        raw[6] = (raw[6] & 0x0F) | 0x40
        raw[8] = (raw[8] & 0x3F) | 0x80
        h = raw.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def randbelow(self, n: int) -> int:
        if self._random is None:
            return secrets.randbelow(n)
        with self._lock:
            return self._random.randrange(n)

    def random(self) -> float:
        """A float in [0, 1) — used by probabilistic rules (fault injection)."""
        return self.randbelow(2**53) / 2**53

    def serial(self) -> int:
        """A positive 16-byte certificate serial number (RFC 5280 allows up to 20 octets)."""
        value = int.from_bytes(self.bytes(16), "big") >> 1  # keep the top bit clear: positive in DER
        return value or 1

    def ec_private_key(self, curve: ec.EllipticCurve) -> ec.EllipticCurvePrivateKey:
        """A new EC key on ``curve``; derived from the stream when seeded, from the OS otherwise."""
        if self._random is None:
            return ec.generate_private_key(curve)
        order = _ORDERS[curve.name]
        scalar = int.from_bytes(self.bytes(curve.key_size // 8 + 8), "big") % (order - 1) + 1
        return ec.derive_private_key(scalar, curve)

    def seal(self, material: bytes) -> bytes:
        """``material`` bound to the world's secret: as many bytes of HMAC-SHA256(secret, material) (counter mode
        beyond 32), or ``material`` itself when the stream has no secret."""
        if self.secret is None:
            return material
        out = b""
        counter = 0
        while len(out) < len(material):
            out += hmac.new(self.secret, counter.to_bytes(4, "big") + material, hashlib.sha256).digest()
            counter += 1
        return out[: len(material)]

    def fork(self, label: str) -> Entropy:
        """An independent stream for one part of the world (so adding a draw in one model doesn't shift another)."""
        if self._random is None:
            return Entropy(None, secret=self.secret)
        seed = int.from_bytes(label.encode(), "big") ^ (self.seed or 0) * 0x9E3779B97F4A7C15 % 2**64
        return Entropy(seed, secret=self.secret)
