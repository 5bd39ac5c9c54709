"""End users on outcomes: the `user` field or x-interlock-user, kept only as a keyed hash per
tenant, through the gateway with the official openai client."""

from __future__ import annotations

import re
import uuid

import openai
from sqlalchemy.engine import Engine

from gateway.end_users import user_hash
from store.installation import installation_secret
from store.outcomes import outcomes_for_request
from store.tenants import add_api_key, ensure_tenant


def test_the_installation_key_is_made_once(engine: Engine) -> None:
    first = installation_secret(engine, "user-hash-key")
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert installation_secret(engine, "user-hash-key") == first
    assert installation_secret(engine, "another") != first


def test_the_hash_is_keyed_and_per_tenant() -> None:
    key = b"k" * 32
    alice = user_hash(key, "acme", "alice@example.com")
    assert alice is not None and re.fullmatch(r"[0-9a-f]{32}", alice)
    assert user_hash(key, "acme", "alice@example.com") == alice
    assert user_hash(key, "globex", "alice@example.com") != alice
    assert user_hash(b"other key" * 4, "acme", "alice@example.com") != alice
    assert user_hash(key, "acme", None) is None and user_hash(key, "acme", "") is None


async def test_outcomes_keep_the_end_user_hashed(stack, sdk) -> None:
    named = await sdk.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "hi"}], user="alice@example.com"
    )
    by_header = await sdk.chat.completions.create(
        model="chat",
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-interlock-user": "alice@example.com"},
    )
    anonymous = await sdk.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "hi"}]
    )
    [first] = outcomes_for_request(stack.engine, named.id)
    [second] = outcomes_for_request(stack.engine, by_header.id)
    [third] = outcomes_for_request(stack.engine, anonymous.id)
    assert first.user_hash is not None and first.user_hash == second.user_hash
    assert "alice" not in first.user_hash and third.user_hash is None
    # Another tenant's user of the same id is another user.
    tenant = f"users-{uuid.uuid4().hex[:8]}"
    ensure_tenant(stack.engine, tenant)
    other = openai.AsyncOpenAI(
        base_url=f"{stack.base_url}/v1", api_key=add_api_key(stack.engine, tenant), max_retries=0
    )
    elsewhere = await other.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "hi"}], user="alice@example.com"
    )
    await other.close()
    [fourth] = outcomes_for_request(stack.engine, elsewhere.id)
    assert fourth.user_hash is not None and fourth.user_hash != first.user_hash
