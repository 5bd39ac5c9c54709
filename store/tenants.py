"""Tenants and their API keys. Keys are random, shown once, and stored only as digests."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from store.tables import ApiKey, Tenant, utcnow

KEY_PREFIX = "il-"


def hash_api_key(key: str) -> str:
    # Keys carry 256 random bits, so a plain digest cannot be brute-forced; no slow KDF is needed
    # and the lookup stays a single indexed equality on the hot path.
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def ensure_tenant(engine: Engine, tenant_id: str, name: str = "") -> Tenant:
    with Session(engine) as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            tenant = Tenant(id=tenant_id, name=name or tenant_id)
            session.add(tenant)
            session.commit()
            session.refresh(tenant)
        return tenant


def add_api_key(engine: Engine, tenant_id: str, key: str | None = None) -> str:
    """Register `key` (or a new random one) for the tenant and return it; idempotent per key."""
    key = key or generate_api_key()
    digest = hash_api_key(key)
    with Session(engine) as session:
        existing = session.exec(select(ApiKey).where(ApiKey.key_hash == digest)).first()
        if existing is not None:
            if existing.tenant_id != tenant_id:
                raise ValueError("this API key already belongs to another tenant")
            return key
        session.add(ApiKey(tenant_id=tenant_id, key_hash=digest, prefix=key[:8]))
        session.commit()
    return key


def authenticate(engine: Engine, key: str) -> str | None:
    """The tenant id the key belongs to, or None for an unknown, revoked or disabled key."""
    return tenant_for_digest(engine, hash_api_key(key))


def tenant_for_digest(engine: Engine, digest: str) -> str | None:
    """As `authenticate`, from the key's digest."""
    with Session(engine) as session:
        row = session.exec(
            select(ApiKey.tenant_id, Tenant.disabled)
            .join(Tenant, Tenant.id == ApiKey.tenant_id)
            .where(ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None))  # type: ignore[union-attr]
        ).first()
    if row is None or row[1]:
        return None
    return row[0]


def revoke_api_key(engine: Engine, key: str) -> bool:
    with Session(engine) as session:
        row = session.exec(select(ApiKey).where(ApiKey.key_hash == hash_api_key(key))).first()
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = utcnow()
        session.add(row)
        session.commit()
        return True


def tenant_exists(engine: Engine, tenant_id: str) -> bool:
    with Session(engine) as session:
        return session.get(Tenant, tenant_id) is not None
