"""The benchmark's ciphertext: base64 of (sender, target, sequence number, send time)
padded to a fixed size. The broker never reads it; the recipient does."""

from __future__ import annotations

import base64
import os
import struct

_HEADER = struct.Struct("<IIQd")  # 24 bytes: 32 base64 characters, decodable alone
_HEADER_CHARS = 32


class Payloads:
    """Ciphertexts of `size` base64 characters (a multiple of 4, at least 32)."""

    def __init__(self, size: int = 200) -> None:
        if size % 4 or size < _HEADER_CHARS:
            raise ValueError("the ciphertext size must be a multiple of 4, at least 32")
        pad = os.urandom(size // 4 * 3 - _HEADER.size)
        self._tail = base64.b64encode(pad).decode()
        assert len(self._tail) + _HEADER_CHARS == size

    def make(self, sender: int, target: int, seq: int, sent_at: float) -> str:
        head = base64.b64encode(_HEADER.pack(sender, target, seq, sent_at)).decode()
        return head + self._tail


def read(ciphertext: str) -> tuple[int, int, int, float]:
    """(sender, target, seq, sent_at) from a ciphertext made by `Payloads.make`."""
    sender, target, seq, sent_at = _HEADER.unpack(base64.b64decode(ciphertext[:_HEADER_CHARS]))
    return sender, target, seq, sent_at


NONCE = base64.b64encode(os.urandom(24)).decode()
