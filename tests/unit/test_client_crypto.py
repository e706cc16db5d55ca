"""End-to-end payloads: boxes between converted ed25519 keys, signed broadcasts."""

from __future__ import annotations

import base64

import nacl.bindings
import pytest
from nacl.public import Box
from nacl.signing import SigningKey

from client import crypto
from client.crypto import OpenError, Sealed

ALICE = SigningKey(bytes(range(32)))
BOB = SigningKey(bytes(range(32, 64)))
EVE = SigningKey(b"\x07" * 32)


def pub(key: SigningKey) -> str:
    return key.verify_key.encode().hex()


def flip(b64text: str, index: int = 0) -> str:
    raw = bytearray(base64.b64decode(b64text))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def test_a_direct_message_opens_for_its_recipient() -> None:
    sealed = crypto.seal_direct(ALICE, pub(BOB), "meet at 10, room 42 ✓")
    assert crypto.open_direct(BOB, pub(ALICE), sealed) == "meet at 10, room 42 ✓"


def test_the_wire_form_is_base64_nonce_and_ciphertext_without_the_plaintext() -> None:
    sealed = crypto.seal_direct(ALICE, pub(BOB), "the password is hunter2")
    assert len(base64.b64decode(sealed.nonce, validate=True)) == 24
    raw = base64.b64decode(sealed.ciphertext, validate=True)
    assert len(raw) == len("the password is hunter2") + 16  # Poly1305 tag
    assert b"hunter2" not in raw and "hunter2" not in sealed.ciphertext


def test_every_message_gets_a_fresh_nonce() -> None:
    nonces = {crypto.seal_direct(ALICE, pub(BOB), "same text").nonce for _ in range(50)}
    assert len(nonces) == 50


@pytest.mark.parametrize(
    "tamper",
    [
        lambda s: Sealed(s.nonce, flip(s.ciphertext)),
        lambda s: Sealed(s.nonce, flip(s.ciphertext, -1)),
        lambda s: Sealed(flip(s.nonce), s.ciphertext),
        lambda s: Sealed(s.nonce, s.ciphertext[:-8]),
        lambda s: Sealed("AAAA", s.ciphertext),
        lambda s: Sealed(s.nonce, "not base64!"),
    ],
    ids=["ciphertext-first-byte", "tag", "nonce", "truncated", "short-nonce", "garbage"],
)
def test_a_tampered_message_does_not_open(tamper) -> None:
    sealed = crypto.seal_direct(ALICE, pub(BOB), "hello")
    with pytest.raises(OpenError):
        crypto.open_direct(BOB, pub(ALICE), tamper(sealed))


def test_only_the_recipient_opens_it_and_only_from_the_claimed_sender() -> None:
    sealed = crypto.seal_direct(ALICE, pub(BOB), "hello")
    with pytest.raises(OpenError):
        crypto.open_direct(EVE, pub(ALICE), sealed)  # a third member
    with pytest.raises(OpenError):
        crypto.open_direct(BOB, pub(EVE), sealed)  # a forged sender pubkey


def test_the_key_conversion_matches_libsodium_and_agrees_on_both_sides() -> None:
    x_secret = crypto.x25519_secret(ALICE)
    x_public = crypto.x25519_public(pub(ALICE))
    sk64 = ALICE.encode() + ALICE.verify_key.encode()
    assert bytes(x_secret) == nacl.bindings.crypto_sign_ed25519_sk_to_curve25519(sk64)
    assert bytes(x_public) == nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(
        ALICE.verify_key.encode()
    )
    assert bytes(x_secret.public_key) == bytes(x_public)
    ab = Box(crypto.x25519_secret(ALICE), crypto.x25519_public(pub(BOB))).shared_key()
    ba = Box(crypto.x25519_secret(BOB), crypto.x25519_public(pub(ALICE))).shared_key()
    assert ab == ba


def test_a_pubkey_that_is_not_a_curve_point_is_refused() -> None:
    with pytest.raises(OpenError):
        crypto.seal_direct(ALICE, "ab" * 32, "hello")


def test_a_message_to_oneself_opens_for_ones_other_sessions() -> None:
    sealed = crypto.seal_direct(ALICE, pub(ALICE), "note to self")
    assert crypto.open_direct(ALICE, pub(ALICE), sealed) == "note to self"


def test_a_broadcast_is_signed_not_encrypted_and_says_so() -> None:
    sealed = crypto.seal(ALICE, "*", "standup in 5")
    assert sealed.nonce == ""
    assert b"standup in 5" in base64.b64decode(sealed.ciphertext)  # readable by the broker
    opened = crypto.open_payload(BOB, pub(ALICE), sealed)
    assert opened == crypto.Opened("standup in 5", encrypted=False)


def test_a_forged_or_altered_broadcast_is_refused() -> None:
    sealed = crypto.seal(ALICE, "*", "standup in 5")
    with pytest.raises(OpenError):
        crypto.open_payload(BOB, pub(EVE), sealed)
    with pytest.raises(OpenError):
        crypto.open_payload(BOB, pub(ALICE), Sealed("", flip(sealed.ciphertext, 70)))


def test_open_payload_opens_a_box_as_encrypted() -> None:
    sealed = crypto.seal(ALICE, pub(BOB), "direct")
    assert crypto.open_payload(BOB, pub(ALICE), sealed) == crypto.Opened("direct", encrypted=True)
