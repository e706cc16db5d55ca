"""End-to-end payload protection (docs/adr/0009-end-to-end-encryption.md).

Direct messages: a NaCl box (X25519 + XSalsa20-Poly1305) between the sender's and the
recipient's ed25519 keys converted to X25519, a fresh random 24-byte nonce per message.
On the wire: `nonce` = base64 of the nonce, `ciphertext` = base64 of the box.

Broadcasts (`*`): one ciphertext cannot be opened by every member with a pairwise box, so
a broadcast is signed, not encrypted: `nonce` is empty and `ciphertext` is base64 of the
ed25519 signed message (64-byte signature, then the UTF-8 text). The broker can read it;
recipients can check it came from the sender's key.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from nacl.exceptions import BadSignatureError, CryptoError
from nacl.public import Box, PrivateKey, PublicKey
from nacl.signing import SigningKey, VerifyKey
from nacl.utils import random as random_bytes

NONCE_BYTES = Box.NONCE_SIZE
BROADCAST = "*"


class OpenError(Exception):
    """A payload that does not open: tampered, wrong keys, or malformed."""


@dataclass(frozen=True, slots=True)
class Sealed:
    nonce: str
    ciphertext: str


@dataclass(frozen=True, slots=True)
class Opened:
    text: str
    encrypted: bool


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise OpenError("not base64") from exc


def x25519_secret(key: SigningKey) -> PrivateKey:
    return key.to_curve25519_private_key()


def x25519_public(pubkey_hex: str) -> PublicKey:
    try:
        return VerifyKey(bytes.fromhex(pubkey_hex)).to_curve25519_public_key()
    except (ValueError, TypeError, CryptoError) as exc:
        raise OpenError(f"not an ed25519 public key: {pubkey_hex[:16]}...") from exc


def seal_direct(sender: SigningKey, recipient_pubkey: str, text: str) -> Sealed:
    box = Box(x25519_secret(sender), x25519_public(recipient_pubkey))
    nonce = random_bytes(NONCE_BYTES)
    encrypted = box.encrypt(text.encode("utf-8"), nonce)
    return Sealed(nonce=b64(nonce), ciphertext=b64(encrypted.ciphertext))


def open_direct(recipient: SigningKey, sender_pubkey: str, sealed: Sealed) -> str:
    nonce = unb64(sealed.nonce)
    if len(nonce) != NONCE_BYTES:
        raise OpenError(f"nonce must be {NONCE_BYTES} bytes, got {len(nonce)}")
    box = Box(x25519_secret(recipient), x25519_public(sender_pubkey))
    try:
        plain = box.decrypt(unb64(sealed.ciphertext), nonce)
    except CryptoError as exc:
        raise OpenError("box does not open (tampered or wrong keys)") from exc
    return _utf8(plain)


def sign_broadcast(sender: SigningKey, text: str) -> Sealed:
    return Sealed(nonce="", ciphertext=b64(bytes(sender.sign(text.encode("utf-8")))))


def verify_broadcast(sender_pubkey: str, sealed: Sealed) -> str:
    try:
        key = VerifyKey(bytes.fromhex(sender_pubkey))
        plain = key.verify(unb64(sealed.ciphertext))
    except (ValueError, TypeError, BadSignatureError, CryptoError) as exc:
        raise OpenError("broadcast signature does not verify") from exc
    return _utf8(plain)


def seal(sender: SigningKey, target: str, text: str) -> Sealed:
    """The payload for `target`: a box for a pubkey, a signed message for `*`."""
    if target == BROADCAST:
        return sign_broadcast(sender, text)
    return seal_direct(sender, target, text)


def open_payload(recipient: SigningKey, sender_pubkey: str, sealed: Sealed) -> Opened:
    """An empty nonce marks a signed broadcast; anything else must be a box."""
    if sealed.nonce == "":
        return Opened(verify_broadcast(sender_pubkey, sealed), encrypted=False)
    return Opened(open_direct(recipient, sender_pubkey, sealed), encrypted=True)


def _utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OpenError("payload is not UTF-8 text") from exc
