"""The codec's key ring: every key that may have encrypted a stored payload, and the one in use.

Keys rotate by adding a new key and making it active; old keys stay so that histories written
under them still decode. The ring lives in a JSON file created with mode 0600, or in the
INTERLOCK_CODEC_KEYRING variable for deployments that inject secrets through the environment.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

KEY_BYTES = 32  # AES-256


class KeyRingError(ValueError):
    """The key ring is malformed: a clear message instead of a crash deep in the codec."""


@dataclass(frozen=True)
class KeyRing:
    active_key_id: str
    keys: dict[str, bytes] = field(repr=False)

    def __post_init__(self) -> None:
        if self.active_key_id not in self.keys:
            raise KeyRingError(f"active key {self.active_key_id!r} is not in the key ring")
        for key_id, key in self.keys.items():
            if len(key) != KEY_BYTES:
                raise KeyRingError(f"key {key_id!r} must be {KEY_BYTES} bytes, got {len(key)}")

    @classmethod
    def generate(cls, key_id: str = "k1") -> KeyRing:
        return cls(active_key_id=key_id, keys={key_id: secrets.token_bytes(KEY_BYTES)})

    def rotated(self) -> KeyRing:
        """A ring with one new active key; every older key is kept for decoding."""
        number = 1 + max(
            (int(k[1:]) for k in self.keys if k.startswith("k") and k[1:].isdigit()), default=0
        )
        new_id = f"k{number}"
        return KeyRing(
            active_key_id=new_id, keys={**self.keys, new_id: secrets.token_bytes(KEY_BYTES)}
        )

    def to_json(self) -> str:
        encoded = {k: base64.b64encode(v).decode("ascii") for k, v in self.keys.items()}
        return json.dumps({"active": self.active_key_id, "keys": encoded}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> KeyRing:
        try:
            raw = json.loads(text)
            keys = {str(k): base64.b64decode(v, validate=True) for k, v in raw["keys"].items()}
            return cls(active_key_id=str(raw["active"]), keys=keys)
        except KeyRingError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KeyRingError(
                'key ring must be JSON {"active": "<id>", "keys": {"<id>": "<base64 32 bytes>"}}'
            ) from exc


def write_keyring(path: Path, ring: KeyRing) -> None:
    """Write atomically with mode 0600: never half-written, never world-readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(ring.to_json())
    os.replace(tmp, path)


def load_keyring(env_value: str | None, path: Path) -> KeyRing:
    """The ring from the environment if given, else from `path`, created on first use."""
    if env_value:
        return KeyRing.from_json(env_value)
    if path.exists():
        return KeyRing.from_json(path.read_text(encoding="utf-8"))
    path.parent.mkdir(parents=True, exist_ok=True)
    ring = KeyRing.generate()
    # Two processes starting together must agree on one key, and neither may read a half-written
    # file: write a private temporary file in full, then publish it with link(), which is atomic
    # and fails if another process published first (then that process's ring wins).
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(ring.to_json())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return KeyRing.from_json(path.read_text(encoding="utf-8"))
    finally:
        tmp.unlink(missing_ok=True)
    return ring
