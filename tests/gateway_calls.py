"""One chat completion through the test stack's gateway, as the tests that need a plain one send
it (raw HTTP, so a test sees statuses and headers exactly as a client would)."""

from __future__ import annotations

import httpx


async def ask(stack, route: str, content: str = "hello") -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        return await http.post(
            "/v1/chat/completions",
            json={"model": route, "messages": [{"role": "user", "content": content}]},
            headers={"Authorization": f"Bearer {stack.api_key}"},
        )
