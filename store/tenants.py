"""Tenants and their API keys. Keys are random, shown once, and stored only as digests.

A presented key is hashed, and its digest looked up by an indexed equality (in the database, or
in the gateway's dictionary of keys seen in the last second); nothing compares a presented key,
or its digest, with stored material byte by byte in Python. The lookup is not a timing oracle
worth having: its time could at most depend on how many leading characters of a stored digest
the presented key's digest shares, and since the attacker chooses keys, not digests, pinning the
next hexadecimal digit of a digest takes about 16 times more hashing than the last one did.
A digest learned whole is still no key, either: the gateway hashes whatever it is given, and
finding a SHA-256 preimage of a 256-bit random key is out of reach. So keys are hashed with
plain SHA-256 and looked up directly; hmac.compare_digest would only have a place if a key or
digest were ever compared in Python.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from store.rate_limits import RateLimit
from store.tables import ApiKey, Tenant, utcnow

KEY_PREFIX = "il-"
# The leading characters of a key kept in plain text, for people to tell keys apart: the
# "il-" and five random characters (30 of the key's 256 bits).
SHOWN_PREFIX_LENGTH = 8

INFERENCE = "inference"
"""Chat completions, the model list, feedback on answers."""
ADMIN = "admin"
"""Administrative endpoints of the gateway."""
SCOPES = (INFERENCE, ADMIN)
DEFAULT_SCOPES = (INFERENCE,)


def hash_api_key(key: str) -> str:
    # Keys carry 256 random bits, so a plain digest cannot be brute-forced; no slow KDF is needed
    # and the lookup stays a single indexed equality on the hot path.
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def scopes_text(scopes: Iterable[str]) -> str:
    """Scopes as stored: known names, space-separated, in a fixed order."""
    wanted = set(scopes)
    unknown = wanted - set(SCOPES)
    if unknown:
        raise ValueError(
            f"unknown scope {sorted(unknown)[0]!r}: the scopes are {', '.join(SCOPES)}"
        )
    if not wanted:
        raise ValueError("a key needs at least one scope")
    return " ".join(scope for scope in SCOPES if scope in wanted)


@dataclass(frozen=True)
class KeyGrant:
    """What a valid key allows: what the gateway keeps for a second per key digest."""

    digest: str = field(repr=False)
    tenant_id: str
    scopes: frozenset[str]
    rate_limit: RateLimit | None


@dataclass(frozen=True)
class KeyInfo:
    """A key as `keys list` shows it: never the key, nor its digest."""

    key_id: int
    prefix: str
    tenant_id: str
    scopes: tuple[str, ...]
    rate_limit: RateLimit | None
    created_at: datetime
    revoked_at: datetime | None


def ensure_tenant(engine: Engine, tenant_id: str, name: str = "") -> Tenant:
    with Session(engine) as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            tenant = Tenant(id=tenant_id, name=name or tenant_id)
            session.add(tenant)
            session.commit()
            session.refresh(tenant)
        return tenant


def add_api_key(
    engine: Engine,
    tenant_id: str,
    key: str | None = None,
    scopes: Iterable[str] = DEFAULT_SCOPES,
    rate_limit: RateLimit | None = None,
) -> str:
    """Register `key` (or a new random one) for the tenant and return it; idempotent per key
    (a key registered before keeps its scopes and limit)."""
    stored_scopes = scopes_text(scopes)
    key = key or generate_api_key()
    digest = hash_api_key(key)
    with Session(engine) as session:
        existing = session.exec(select(ApiKey).where(ApiKey.key_hash == digest)).first()
        if existing is not None:
            if existing.tenant_id != tenant_id:
                raise ValueError("this API key already belongs to another tenant")
            return key
        session.add(
            ApiKey(
                tenant_id=tenant_id,
                key_hash=digest,
                prefix=key[:SHOWN_PREFIX_LENGTH],
                scopes=stored_scopes,
                rate_limit_per_second=None if rate_limit is None else rate_limit.per_second,
                rate_limit_burst=None if rate_limit is None else rate_limit.burst,
            )
        )
        session.commit()
    return key


def authenticate(engine: Engine, key: str) -> str | None:
    """The tenant id the key belongs to, or None for an unknown, revoked or disabled key."""
    return tenant_for_digest(engine, hash_api_key(key))


def tenant_for_digest(engine: Engine, digest: str) -> str | None:
    """As `authenticate`, from the key's digest."""
    grant = grant_for_digest(engine, digest)
    return None if grant is None else grant.tenant_id


def grant_for_digest(engine: Engine, digest: str) -> KeyGrant | None:
    """What the key of this digest allows; None for an unknown or revoked key, or one whose
    tenant is disabled. One indexed read (see the module's docstring on timing)."""
    with Session(engine) as session:
        row = session.exec(
            select(
                ApiKey.tenant_id,
                ApiKey.scopes,
                ApiKey.rate_limit_per_second,
                ApiKey.rate_limit_burst,
                Tenant.disabled,
            )
            .join(Tenant, Tenant.id == ApiKey.tenant_id)  # type: ignore[arg-type]
            .where(ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None))  # type: ignore[union-attr]
        ).first()
    if row is None:
        return None
    tenant_id, scopes, per_second, burst, disabled = row
    if disabled:
        return None
    limit = None if per_second is None or burst is None else RateLimit(per_second, burst)
    return KeyGrant(digest, tenant_id, frozenset(scopes.split()), limit)


def revoke_api_key(engine: Engine, key: str) -> bool:
    with Session(engine) as session:
        row = session.exec(select(ApiKey).where(ApiKey.key_hash == hash_api_key(key))).first()
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = utcnow()
        session.add(row)
        session.commit()
        return True


def keys_matching(engine: Engine, key_or_prefix: str) -> list[KeyInfo]:
    """The key given in full, or else the keys whose shown prefix is `key_or_prefix`."""
    digest = hash_api_key(key_or_prefix)
    with Session(engine) as session:
        whole = session.exec(select(ApiKey).where(ApiKey.key_hash == digest)).first()
        if whole is not None:
            return [_info(whole)]
        if len(key_or_prefix) > SHOWN_PREFIX_LENGTH:
            return []
        rows = session.exec(
            select(ApiKey).where(ApiKey.prefix == key_or_prefix).order_by(ApiKey.id)  # type: ignore[arg-type]
        ).all()
    return [_info(row) for row in rows]


def revoke_key_id(engine: Engine, key_id: int) -> datetime | None:
    """Revoke the key; when it was revoked (now, or earlier if it already was)."""
    with Session(engine) as session:
        row = session.get(ApiKey, key_id)
        if row is None:
            return None
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            session.add(row)
            session.commit()
            session.refresh(row)
        return row.revoked_at


def list_api_keys(engine: Engine, tenant_id: str | None = None) -> list[KeyInfo]:
    """Every key (of one tenant, if given), oldest first."""
    with Session(engine) as session:
        query = select(ApiKey).order_by(ApiKey.tenant_id, ApiKey.id)  # type: ignore[arg-type]
        if tenant_id is not None:
            query = query.where(ApiKey.tenant_id == tenant_id)
        return [_info(row) for row in session.exec(query).all()]


def _info(row: ApiKey) -> KeyInfo:
    assert row.id is not None
    limit = (
        None
        if row.rate_limit_per_second is None or row.rate_limit_burst is None
        else RateLimit(row.rate_limit_per_second, row.rate_limit_burst)
    )
    return KeyInfo(
        key_id=row.id,
        prefix=row.prefix,
        tenant_id=row.tenant_id,
        scopes=tuple(row.scopes.split()),
        rate_limit=limit,
        created_at=_utc(row.created_at),
        revoked_at=None if row.revoked_at is None else _utc(row.revoked_at),
    )


def _utc(at: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were written in UTC."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def tenant_exists(engine: Engine, tenant_id: str) -> bool:
    with Session(engine) as session:
        return session.get(Tenant, tenant_id) is not None
