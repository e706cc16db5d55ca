"""The member's key file: the 32-byte ed25519 seed as 64 hex characters and a newline,
mode 0600, never readable by others."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from nacl.signing import SigningKey

_SEED = re.compile(r"[0-9a-fA-F]{64}")


class KeyFileError(Exception):
    """The key file is missing, malformed or too open."""


@dataclass(frozen=True, slots=True)
class Identity:
    key: SigningKey

    @property
    def pubkey(self) -> str:
        return self.key.verify_key.encode().hex()

    def sign(self, message: bytes) -> str:
        return self.key.sign(message).signature.hex()


def generate() -> Identity:
    return Identity(SigningKey.generate())


def write_key(path: Path, identity: Identity) -> None:
    """Create `path` with mode 0600 (and missing parent directories with 0700); an
    existing file is never overwritten."""
    seed = bytes(identity.key).hex() + "\n"
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise KeyFileError(f"{path} already exists; not overwriting a key") from exc
    except OSError as exc:
        raise KeyFileError(f"cannot create {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "w", encoding="ascii") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(seed)


def load_key(path: Path) -> Identity:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii")
    except FileNotFoundError as exc:
        raise KeyFileError(f"{path} does not exist (create it with `meshpeer keygen`)") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read {path}: {exc}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"{path} is accessible by others (mode {mode & 0o777:o}); chmod 600 it")
    seed = text.strip()
    if _SEED.fullmatch(seed) is None:
        raise KeyFileError(f"{path} must hold 64 hex characters (an ed25519 seed)")
    return Identity(SigningKey(bytes.fromhex(seed)))
