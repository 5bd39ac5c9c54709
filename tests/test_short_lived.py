"""Configuration read on every request is kept a second: what that saves, and what it costs."""

from __future__ import annotations

import asyncio

import httpx

from store.short_lived import ShortLived
from store.tenants import add_api_key, revoke_api_key
from tests.conftest import publish_echo_route


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_value_is_kept_for_its_time_then_read_again() -> None:
    clock, loads = Clock(), []
    cache: ShortLived[str, str] = ShortLived(ttl=1.0, clock=clock)

    def load(key: str) -> str:
        loads.append(key)
        return key.upper()

    assert cache.get("a", load) == "A"
    clock.now += 0.9
    assert cache.get("a", load) == "A"
    assert loads == ["a"]
    clock.now += 0.2
    assert cache.get("a", load) == "A"
    assert loads == ["a", "a"]


def test_a_miss_is_never_kept() -> None:
    cache: ShortLived[str, str] = ShortLived(ttl=60.0, clock=Clock())
    assert cache.get("new", lambda _key: None) is None
    assert cache.get("new", lambda _key: "created since") == "created since"


def test_the_number_of_values_is_bounded() -> None:
    clock = Clock()
    cache: ShortLived[int, int] = ShortLived(ttl=60.0, limit=10, clock=clock)
    for key in range(25):
        cache.get(key, lambda k: k)
    assert len(cache._entries) <= 10


async def ask(stack, route: str, key: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        return await http.post(
            "/v1/chat/completions",
            json={"model": route, "messages": [{"role": "user", "content": "hello"}]},
            headers={"Authorization": f"Bearer {key}"},
        )


async def until(check, attempts: int = 40) -> bool:
    """Whether `check()` comes true within `attempts` tries a tenth of a second apart."""
    for _ in range(attempts):
        if await check():
            return True
        await asyncio.sleep(0.1)
    return False


async def test_a_published_route_version_serves_within_a_second_or_so(stack) -> None:
    route = publish_echo_route(stack.engine, "republished", variant_label="first")
    first = await ask(stack, route, stack.api_key)
    assert first.json()["choices"][0]["message"]["content"] == "hello"
    publish_echo_route(stack.engine, route, variant_label="second")

    async def serves_second() -> bool:
        response = await ask(stack, route, stack.api_key)
        return response.headers["x-interlock-variant"] == "second"

    assert await until(serves_second)


async def test_a_revoked_key_is_refused_within_a_second_or_so(stack) -> None:
    key = add_api_key(stack.engine, "demo")
    route = publish_echo_route(stack.engine, "key-revoked")
    assert (await ask(stack, route, key)).status_code == 200
    assert revoke_api_key(stack.engine, key)

    async def refused() -> bool:
        return (await ask(stack, route, key)).status_code == 401

    assert await until(refused)
