"""A deterministic, cryptographically strong generator for reproducible allocation lists.

HMAC-SHA256 in counter mode keyed by the recorded seed (an HMAC-DRBG-like construction): the same
seed reproduces the same list for verification, and without the seed the next allocation cannot be
predicted. Python's `random` (Mersenne Twister) is predictable from its output and is not used.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

# NIST SP 800-90A asks a DRBG's seed to carry at least the security strength in entropy; 128 bits
# is the floor for HMAC-SHA256. A one-byte seed makes 256 possible lists, which anyone can enumerate
# and match against the first few allocations to read the rest of the list.
MIN_SEED_BITS = 128


def new_seed() -> str:
    """256 bits from the operating system's CSPRNG, as hexadecimal."""
    return secrets.token_hex(32)


def seed_problem(seed_hex: str) -> str:
    """Why ``seed_hex`` cannot seed an allocation list ('' when it can)."""
    try:
        bytes.fromhex(seed_hex)
    except ValueError:
        return "The seed must be hexadecimal (0-9, a-f)."
    bits = len(seed_hex) * 4
    if bits < MIN_SEED_BITS:
        return (
            f"The seed has {bits} bits; at least {MIN_SEED_BITS} bits ({MIN_SEED_BITS // 4} hexadecimal "
            "digits) are needed so the list cannot be guessed. Leave the field empty to generate one."
        )
    return ""


class SeededCsprng:
    def __init__(self, seed_hex: str, *, label: str = "") -> None:
        self._key = bytes.fromhex(seed_hex)
        self._label = label.encode()
        self._counter = 0
        self._buffer = b""

    def _bytes(self, n: int) -> bytes:
        while len(self._buffer) < n:
            block = hmac.new(self._key, self._label + self._counter.to_bytes(8, "big"), hashlib.sha256).digest()
            self._buffer += block
            self._counter += 1
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out

    def randbelow(self, n: int) -> int:
        """Uniform integer in [0, n) by rejection sampling (no modulo bias)."""
        if n <= 0:
            raise ValueError("n must be positive")
        k = max(1, (n - 1).bit_length())
        nbytes = (k + 7) // 8
        while True:
            value = int.from_bytes(self._bytes(nbytes), "big") >> (nbytes * 8 - k)
            if value < n:
                return value

    def random(self) -> float:
        """Uniform float in [0, 1) with 53 bits."""
        return (int.from_bytes(self._bytes(7), "big") >> 3) / float(1 << 53)

    def choice(self, items):
        return items[self.randbelow(len(items))]

    def shuffle(self, items: list) -> None:
        for i in range(len(items) - 1, 0, -1):
            j = self.randbelow(i + 1)
            items[i], items[j] = items[j], items[i]
