"""The key file: 64 hex characters and a newline, mode 0600, never overwritten."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from client.identity import Identity, KeyFileError, generate, load_key, write_key


def test_keygen_writes_the_seed_as_hex_with_mode_0600(tmp_path: Path) -> None:
    identity = generate()
    path = tmp_path / "ada.key"
    write_key(path, identity)
    text = path.read_text()
    assert text == bytes(identity.key).hex() + "\n" and len(text) == 65
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key(path).pubkey == identity.pubkey


def test_the_pubkey_is_64_lowercase_hex_of_the_verify_key() -> None:
    key = SigningKey(bytes(range(32)))
    assert Identity(key).pubkey == key.verify_key.encode().hex()


def test_an_existing_key_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "ada.key"
    write_key(path, generate())
    before = path.read_text()
    with pytest.raises(KeyFileError, match="already exists"):
        write_key(path, generate())
    assert path.read_text() == before


def test_a_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ada.key"
    write_key(path, generate())
    path.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_key(path)


@pytest.mark.parametrize("content", ["", "abc\n", "zz" * 32 + "\n", "00" * 33 + "\n"])
def test_a_malformed_key_file_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.key"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="64 hex"):
        load_key(path)


def test_a_missing_key_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="meshpeer keygen"):
        load_key(tmp_path / "nope.key")


def test_keygen_creates_missing_directories_privately(tmp_path: Path) -> None:
    path = tmp_path / "new" / "ada.key"
    write_key(path, generate())
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700 and path.exists()
