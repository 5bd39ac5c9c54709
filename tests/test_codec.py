"""The payload codec and its key ring: real AES-GCM, real files, real Temporal payloads."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import stat
import threading
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter

from codec import ENCRYPTED_ENCODING, EncryptionCodec, KeyRing, UnknownKeyError, load_keyring
from codec.encryption import KEY_ID_METADATA, NONCE_BYTES
from codec.keyring import KEY_BYTES, KeyRingError, write_keyring

SECRET = b'{"prompt": "the launch code is swordfish-4711"}'


def plain_payload() -> Payload:
    return Payload(metadata={"encoding": b"json/plain", "extra": b"meta-value"}, data=SECRET)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def ring_json(active: str, keys: dict[str, bytes]) -> str:
    return json.dumps(
        {"active": active, "keys": {k: base64.b64encode(v).decode() for k, v in keys.items()}}
    )


# --- the codec ---


async def test_round_trip_restores_the_payload_exactly() -> None:
    codec = EncryptionCodec(KeyRing.generate())
    original = [plain_payload(), Payload(metadata={"encoding": b"binary/null"}), Payload()]
    encoded = await codec.encode(original)
    assert len(encoded) == 3
    assert all(p.metadata["encoding"] == ENCRYPTED_ENCODING for p in encoded)
    assert await codec.decode(encoded) == original


async def test_ciphertext_hides_data_and_original_metadata() -> None:
    codec = EncryptionCodec(KeyRing.generate())
    [encrypted] = await codec.encode([plain_payload()])
    wire = encrypted.SerializeToString()
    for fragment in (SECRET, b"swordfish", b"json/plain", b"meta-value", b"extra"):
        assert fragment not in wire
    # Nonce + ciphertext of the serialized payload + 16-byte GCM tag.
    assert len(encrypted.data) == NONCE_BYTES + len(plain_payload().SerializeToString()) + 16


async def test_encrypted_metadata_names_only_encoding_and_key_id() -> None:
    ring = KeyRing.generate("k7")
    codec = EncryptionCodec(ring)
    [encrypted] = await codec.encode([plain_payload()])
    assert dict(encrypted.metadata) == {
        "encoding": b"binary/encrypted",
        KEY_ID_METADATA: b"k7",
    }
    assert codec.active_key_id == "k7"


async def test_encrypting_twice_uses_fresh_nonces() -> None:
    codec = EncryptionCodec(KeyRing.generate())
    first, second = await codec.encode([plain_payload(), plain_payload()])
    assert first.data[:NONCE_BYTES] != second.data[:NONCE_BYTES]
    assert first.data != second.data
    assert await codec.decode([first, second]) == [plain_payload(), plain_payload()]


async def test_unencrypted_payloads_pass_through_decode_unchanged() -> None:
    codec = EncryptionCodec(KeyRing.generate())
    untouched = [plain_payload(), Payload(data=b"no metadata at all")]
    assert await codec.decode(untouched) == untouched
    # Mixed batches decode element by element.
    [encrypted] = await codec.encode([plain_payload()])
    assert await codec.decode([untouched[1], encrypted]) == [untouched[1], plain_payload()]


@pytest.mark.parametrize(
    "position",
    [0, NONCE_BYTES - 1, NONCE_BYTES, NONCE_BYTES + 5, -1],
    ids=["nonce-start", "nonce-end", "ciphertext-start", "ciphertext", "tag"],
)
async def test_tampered_data_fails_authentication(position: int) -> None:
    codec = EncryptionCodec(KeyRing.generate())
    [encrypted] = await codec.encode([plain_payload()])
    data = bytearray(encrypted.data)
    data[position] ^= 0x01
    tampered = Payload(metadata=dict(encrypted.metadata), data=bytes(data))
    with pytest.raises(ValueError, match="failed authentication"):
        await codec.decode([tampered])


async def test_truncated_data_fails() -> None:
    codec = EncryptionCodec(KeyRing.generate())
    [encrypted] = await codec.encode([plain_payload()])
    for data in (encrypted.data[:-1], encrypted.data[:NONCE_BYTES], b""):
        with pytest.raises(ValueError):
            await codec.decode([Payload(metadata=dict(encrypted.metadata), data=data)])


async def test_relabelling_the_key_id_fails() -> None:
    ring = KeyRing.generate().rotated()  # k1 and k2, k2 active
    codec = EncryptionCodec(ring)
    [encrypted] = await codec.encode([plain_payload()])
    assert encrypted.metadata[KEY_ID_METADATA] == b"k2"
    relabelled = Payload(
        metadata={"encoding": ENCRYPTED_ENCODING, KEY_ID_METADATA: b"k1"}, data=encrypted.data
    )
    with pytest.raises(ValueError, match="failed authentication"):
        await codec.decode([relabelled])

    # Same key bytes under two ids: the id is still bound as associated data.
    key = ring.keys["k2"]
    twin = EncryptionCodec(KeyRing(active_key_id="a", keys={"a": key, "b": key}))
    [sealed] = await twin.encode([plain_payload()])
    swapped = Payload(
        metadata={"encoding": ENCRYPTED_ENCODING, KEY_ID_METADATA: b"b"}, data=sealed.data
    )
    with pytest.raises(ValueError, match="failed authentication"):
        await twin.decode([swapped])


async def test_rotation_keeps_old_payloads_readable() -> None:
    old_ring = KeyRing.generate()
    old_codec = EncryptionCodec(old_ring)
    [before] = await old_codec.encode([plain_payload()])

    new_ring = old_ring.rotated()
    assert new_ring.active_key_id == "k2"
    assert new_ring.keys["k1"] == old_ring.keys["k1"]
    assert new_ring.keys["k2"] != old_ring.keys["k1"]
    new_codec = EncryptionCodec(new_ring)
    assert await new_codec.decode([before]) == [plain_payload()]

    [after] = await new_codec.encode([plain_payload()])
    assert after.metadata[KEY_ID_METADATA] == b"k2"
    assert await new_codec.decode([after]) == [plain_payload()]
    # A process still on the old ring cannot read what the new key wrote.
    with pytest.raises(UnknownKeyError, match="'k2'"):
        await old_codec.decode([after])

    third = new_ring.rotated()
    assert third.active_key_id == "k3"
    assert set(third.keys) == {"k1", "k2", "k3"}
    assert await EncryptionCodec(third).decode([before, after]) == [plain_payload()] * 2


async def test_codec_without_the_key_raises_unknown_key() -> None:
    [encrypted] = await EncryptionCodec(KeyRing.generate("prod-1")).encode([plain_payload()])
    stranger = EncryptionCodec(KeyRing.generate("prod-2"))
    with pytest.raises(UnknownKeyError, match=r"'prod-1'.*not in the key ring"):
        await stranger.decode([encrypted])
    no_id = Payload(metadata={"encoding": ENCRYPTED_ENCODING}, data=encrypted.data)
    with pytest.raises(UnknownKeyError):
        await stranger.decode([no_id])
    assert issubclass(UnknownKeyError, ValueError)


async def test_codec_behind_a_temporal_data_converter() -> None:
    codec = EncryptionCodec(KeyRing.generate())
    converter = dataclasses.replace(DataConverter.default, payload_codec=codec)
    value = {"prompt": "swordfish-4711", "n": [1, 2, 3]}
    payloads = await converter.encode([value])
    assert payloads[0].metadata["encoding"] == ENCRYPTED_ENCODING
    assert b"swordfish" not in payloads[0].SerializeToString()
    assert await converter.decode(payloads, [dict]) == [value]


# --- the key ring ---


def test_keyring_validates_itself() -> None:
    with pytest.raises(KeyRingError, match="not in the key ring"):
        KeyRing(active_key_id="k2", keys={"k1": os.urandom(KEY_BYTES)})
    with pytest.raises(KeyRingError, match="must be 32 bytes, got 16"):
        KeyRing(active_key_id="k1", keys={"k1": os.urandom(16)})
    ring = KeyRing.generate()
    assert KeyRing.from_json(ring.to_json()) == ring
    assert "keys" not in repr(ring) and repr(ring.keys["k1"]) not in repr(ring)


def test_load_keyring_creates_a_private_file_once(tmp_path: Path) -> None:
    path = tmp_path / "not-yet" / "keyring.json"
    first = load_keyring(None, path)
    assert path.exists()
    assert mode(path) == 0o600
    assert first.active_key_id == "k1" and len(first.keys["k1"]) == KEY_BYTES
    second = load_keyring(None, path)
    assert second == first
    assert load_keyring("", path) == first  # an empty variable counts as unset
    assert sorted(p.name for p in path.parent.iterdir()) == ["keyring.json"]


def load_concurrently(path: Path, threads: int) -> tuple[list[KeyRing], list[BaseException]]:
    """`threads` threads released together, each calling load_keyring(None, path)."""
    barrier = threading.Barrier(threads)
    rings: list[KeyRing] = []
    errors: list[BaseException] = []

    def load() -> None:
        try:
            barrier.wait(timeout=10)
            rings.append(load_keyring(None, path))
        except BaseException as exc:  # collected and asserted on by the caller
            errors.append(exc)

    workers = [threading.Thread(target=load) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=10)
    return rings, errors


def test_load_keyring_concurrently_agrees_on_one_ring(tmp_path: Path) -> None:
    """Processes starting together on a fresh home must neither fail nor disagree."""
    for trial in range(15):
        path = tmp_path / f"home-{trial}" / "keyring.json"
        rings, errors = load_concurrently(path, threads=8)
        assert errors == []
        assert len(rings) == 8
        assert all(r == rings[0] for r in rings)
        assert KeyRing.from_json(path.read_text()) == rings[0]
        assert mode(path) == 0o600
        assert [p.name for p in path.parent.iterdir()] == ["keyring.json"]


def test_environment_ring_takes_precedence(tmp_path: Path) -> None:
    env_ring = KeyRing.generate("env-key")
    missing = tmp_path / "absent" / "keyring.json"
    assert load_keyring(env_ring.to_json(), missing) == env_ring
    assert not missing.exists()

    on_disk = tmp_path / "keyring.json"
    file_ring = load_keyring(None, on_disk)
    assert file_ring != env_ring
    assert load_keyring(env_ring.to_json(), on_disk) == env_ring
    compact = ring_json("env-key", env_ring.keys)
    assert load_keyring(compact, on_disk) == env_ring
    assert KeyRing.from_json(on_disk.read_text()) == file_ring


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        "null",
        '{"keys": {}}',
        '{"active": "k1"}',
        '{"active": "k1", "keys": []}',
        '{"active": "k1", "keys": {"k1": "!!! not base64 !!!"}}',
        '{"active": "k1", "keys": {"k1": 42}}',
    ],
)
def test_malformed_environment_ring_raises_a_clear_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(KeyRingError, match=r'key ring must be JSON \{"active"'):
        load_keyring(text, tmp_path / "keyring.json")


def test_wrong_key_length_and_missing_active_key_are_named(tmp_path: Path) -> None:
    short = ring_json("k1", {"k1": os.urandom(16)})
    with pytest.raises(KeyRingError, match="key 'k1' must be 32 bytes, got 16"):
        load_keyring(short, tmp_path / "keyring.json")
    orphan = ring_json("k9", {"k1": os.urandom(KEY_BYTES)})
    with pytest.raises(KeyRingError, match="active key 'k9' is not in the key ring"):
        load_keyring(orphan, tmp_path / "keyring.json")


def test_malformed_file_raises_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    path.write_text("{half a file")
    with pytest.raises(KeyRingError, match="key ring must be JSON"):
        load_keyring(None, path)


def test_write_keyring_is_private_and_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "keyring.json"
    ring = KeyRing.generate()
    write_keyring(path, ring)
    assert mode(path) == 0o600
    assert load_keyring(None, path) == ring

    # Rotating over a file someone made world-readable leaves it private again.
    path.chmod(0o644)
    rotated = ring.rotated()
    write_keyring(path, rotated)
    assert mode(path) == 0o600
    assert load_keyring(None, path) == rotated
    assert sorted(p.name for p in path.parent.iterdir()) == ["keyring.json"]
