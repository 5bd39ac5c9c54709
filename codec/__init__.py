"""Payload encryption: an AES-GCM Temporal PayloadCodec over a rotating key ring."""

from codec.encryption import ENCRYPTED_ENCODING, EncryptionCodec, UnknownKeyError
from codec.keyring import KeyRing, load_keyring

__all__ = ["ENCRYPTED_ENCODING", "EncryptionCodec", "KeyRing", "UnknownKeyError", "load_keyring"]
