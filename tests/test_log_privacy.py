"""Nothing a client sends, and no key, reaches a log line or a metric.

Secrets and personal data go through real requests on the running stack, and through a gateway
that calls a real OpenAI-compatible server with a provider key: API keys (the tenant's, and a
wrong one), a provider key pasted into a prompt and the one the gateway calls its provider with,
an email address, a card number, and a prompt text. Requests are answered, redacted, blocked,
cached, streamed, failed by the provider, malformed by it, refused as unknown or invalid.
Logging is set up as `interlock gateway` sets it up at INTERLOCK_LOG_LEVEL=DEBUG with
INTERLOCK_LOG_FORMAT=json, and then every logger is turned to DEBUG and made to reach the
capture, except the libraries that set-up keeps at WARNING on purpose (QUIET_LIBRARIES: at DEBUG,
SQLAlchemy writes result rows, which hold cached answers whole). Every record (caplog), every
JSON line, and every label and value of /metrics is searched for each value.
"""

from __future__ import annotations

import asyncio
import io
import logging
import random
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import openai
import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from configuration.process import QUIET_LIBRARIES, configure_logging
from configuration.settings import ProviderConfig
from contracts.routing import CachePolicy, RouteTarget
from gateway.app import create_app
from store import create_store_engine
from store.routes import RouteConfig, publish_routes
from store.tenants import add_api_key, ensure_tenant
from tests.conftest import publish_down_route, publish_echo_route, serving
from tests.openai_server import OpenAICompatServer


def _card_number() -> str:
    """A Visa-shaped number that passes Luhn, new for each run."""
    digits = [4] + [random.randrange(10) for _ in range(14)]
    total = 0
    for index, digit in enumerate(reversed(digits)):
        doubled = digit * 2 if index % 2 == 0 else digit
        total += doubled - 9 if doubled > 9 else doubled
    digits.append((10 - total % 10) % 10)
    return "".join(map(str, digits))


class Seeded:
    """The values that must not appear anywhere, made fresh for the run."""

    def __init__(self, demo_key: str) -> None:
        tag = uuid.uuid4().hex[:10]
        self.demo_key = demo_key
        self.tenant_key = ""  # made with the tenant
        self.wrong_key = f"il-wrong-{secrets.token_hex(16)}"
        self.pasted_provider_key = f"sk-proj-{secrets.token_urlsafe(36)}"
        self.provider_key = ""  # the provider gateway's
        self.email = f"dana.{tag}@example.org"
        card = _card_number()
        self.card = card
        self.card_grouped = " ".join(card[i : i + 4] for i in range(0, 16, 4))
        self.prompt = f"plum-harbour-lantern-{tag}"
        self.model_typed = f"made-up-model-{tag}"

    def values(self) -> dict[str, str]:
        return {
            "demo API key": self.demo_key,
            "tenant API key": self.tenant_key,
            "wrong API key": self.wrong_key,
            "pasted provider key": self.pasted_provider_key,
            "gateway's provider key": self.provider_key,
            "email address": self.email,
            "card number": self.card,
            "card number, grouped": self.card_grouped,
            "prompt text": self.prompt,
        }

    def personal_prompt(self) -> str:
        return f"{self.prompt}: write to {self.email} about card {self.card_grouped}"


def _kept_quiet(name: str) -> bool:
    return any(name == quiet or name.startswith(f"{quiet}.") for quiet in QUIET_LIBRARIES)


@pytest.fixture
def json_log_lines() -> Iterator[io.StringIO]:
    """The JSON lines of a process logging at DEBUG; every logger but the quiet libraries at
    DEBUG and propagating to the root, where caplog and the JSON handler listen."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    loggers = [logging.getLogger(name) for name in list(root.manager.loggerDict)]
    saved = {logger: (logger.level, logger.propagate) for logger in loggers}
    lines = io.StringIO()
    configure_logging(level="DEBUG", log_format="json", stream=lines)
    for logger in loggers:
        if not _kept_quiet(logger.name):
            logger.setLevel(logging.DEBUG)
            logger.propagate = True
    try:
        yield lines
    finally:
        for handler in list(root.handlers):
            if handler not in saved_handlers:
                root.removeHandler(handler)
        root.setLevel(saved_level)
        for logger, (level, propagate) in saved.items():
            logger.setLevel(level)
            logger.propagate = propagate
        for name in QUIET_LIBRARIES:
            logging.getLogger(name).setLevel(saved.get(logging.getLogger(name), (0, True))[0])


@pytest.fixture
async def provider_gateway(stack, monkeypatch) -> AsyncIterator[tuple[str, OpenAICompatServer]]:
    """A gateway on the stack whose provider is a real OpenAI-compatible server, called with a
    key from the environment."""
    key = f"sk-gateway-{secrets.token_hex(20)}"
    monkeypatch.setenv("PRIVACY_PROVIDER_KEY", key)
    with OpenAICompatServer(api_key=key) as server:
        settings = stack.settings.model_copy(
            update={
                "request_task_queue": f"privacy-{uuid.uuid4().hex[:8]}",
                "providers": [
                    ProviderConfig(
                        name="privacy-openai",
                        kind="openai",
                        base_url=server.url,
                        api_key_env="PRIVACY_PROVIDER_KEY",
                    )
                ],
            }
        )
        async with serving(create_app(settings, client=stack.client)) as url:
            yield url, server


async def test_no_secret_or_personal_data_reaches_logs_or_metrics(
    stack, sdk, provider_gateway, json_log_lines, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    assert logging.getLogger("sqlalchemy.engine.Engine").getEffectiveLevel() == logging.WARNING
    seeded = Seeded(stack.api_key)
    provider_url, provider_server = provider_gateway
    seeded.provider_key = provider_server.api_key
    tenant = f"privacy-{uuid.uuid4().hex[:8]}"
    ensure_tenant(stack.engine, tenant)
    seeded.tenant_key = add_api_key(stack.engine, tenant)

    echo = publish_echo_route(stack.engine, f"privacy-echo-{uuid.uuid4().hex[:6]}")
    down = publish_down_route(stack.engine, f"privacy-down-{uuid.uuid4().hex[:6]}")
    upstream = f"privacy-upstream-{uuid.uuid4().hex[:6]}"
    publish_routes(
        stack.engine,
        [
            RouteConfig(
                name=upstream,
                targets=[
                    RouteTarget(variant="main", provider="privacy-openai", model="gpt-4o-mini")
                ],
                cache=CachePolicy(ttl_seconds=300),
            ),
        ],
    )
    personal = seeded.personal_prompt()

    def asked(text: str) -> list[dict]:
        return [{"role": "user", "content": text}]

    # The demo route: personal data redacted on the way in and restored in the answer.
    answered = await sdk.chat.completions.create(
        model="chat", messages=asked(personal), user=seeded.email
    )
    stream = await sdk.chat.completions.create(model="chat", messages=asked(personal), stream=True)
    async for _chunk in stream:
        pass
    # A provider key pasted into a prompt: blocked.
    with pytest.raises(openai.BadRequestError):
        await sdk.chat.completions.create(
            model="chat", messages=asked(f"{seeded.prompt} my key is {seeded.pasted_provider_key}")
        )
    # The prompt reaches the provider whole and comes back: an echo, cached, then a hit.
    for _ in range(2):
        await sdk.chat.completions.create(model=echo, messages=asked(seeded.prompt))
    # Failures: the provider's, an unknown model, an invalid body, a wrong key.
    with pytest.raises(openai.APIStatusError):
        await sdk.chat.completions.create(model=down, messages=asked(personal))
    with pytest.raises(openai.APIStatusError):
        stream = await sdk.chat.completions.create(
            model=down, messages=asked(personal), stream=True
        )
        async for _chunk in stream:
            pass
    with pytest.raises(openai.NotFoundError):
        await sdk.chat.completions.create(model=seeded.model_typed, messages=asked(personal))
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        invalid = await http.post(
            "/v1/chat/completions",
            json={"model": "chat", "messages": asked(personal), "temperature": seeded.email},
            headers={"Authorization": f"Bearer {stack.api_key}", "x-interlock-user": seeded.email},
        )
        assert invalid.status_code == 400
        refused = await http.post(
            "/v1/chat/completions",
            json={"model": "chat", "messages": asked(personal)},
            headers={"Authorization": f"Bearer {seeded.wrong_key}"},
        )
        assert refused.status_code == 401
        rated = await http.post(
            "/v1/feedback",
            json={"request_id": answered.id, "thumbs": "up"},
            headers={"Authorization": f"Bearer {stack.api_key}"},
        )
        assert rated.status_code == 200
    # Another tenant's key, and a provider called with the gateway's key: answers, a cache
    # hit, a stream, and the provider's failures, one of which echoes the prompt back.
    async with openai.AsyncOpenAI(
        base_url=f"{provider_url}/v1", api_key=seeded.tenant_key, max_retries=0
    ) as tenant_sdk:
        for _ in range(2):
            await tenant_sdk.chat.completions.create(model=upstream, messages=asked(personal))
        stream = await tenant_sdk.chat.completions.create(
            model=upstream, messages=asked(seeded.prompt), stream=True
        )
        async for _chunk in stream:
            pass
        for failing in ("malformed", "malformed-shape", "server-error", "policy"):
            with pytest.raises(openai.APIStatusError):
                await tenant_sdk.chat.completions.create(
                    model=f"privacy-openai/{failing}", messages=asked(seeded.prompt)
                )
    async with httpx.AsyncClient(timeout=30) as http:
        scrapes = [
            (await http.get(f"{url}/metrics")).text for url in (stack.base_url, provider_url)
        ]
    await asyncio.sleep(1.5)  # the SDK core forwards its log lines in batches

    records = [
        (record.name, record.getMessage(), caplog_text)
        for record in caplog.records
        for caplog_text in [logging.Formatter().format(record)]
    ]
    assert records, "nothing was logged: the capture is not working"
    json_lines = json_log_lines.getvalue()
    assert json_lines.strip(), "no JSON line was written"
    for what, value in seeded.values().items():
        assert value
        for logger_name, message, formatted in records:
            assert value not in formatted, f"{what} logged by {logger_name}: {message}"
        assert value not in json_lines, f"{what} in a JSON log line"
        for scraped in scrapes:
            assert value not in scraped, f"{what} on /metrics"
    for scraped in scrapes:
        assert seeded.model_typed not in scraped  # label values are never what a client typed


def test_a_store_error_does_not_quote_what_it_was_given(tmp_path) -> None:
    """Callers log the store's errors (an answer not cached, an outcome not recorded): the
    statement may show, its values not."""
    engine = create_store_engine(f"sqlite:///{tmp_path / 'store.db'}")
    secret = f"plum-harbour-lantern-{uuid.uuid4().hex}"
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE answers (id INTEGER PRIMARY KEY, body TEXT)"))
            connection.execute(text("INSERT INTO answers VALUES (1, :body)"), {"body": secret})
        with pytest.raises(SQLAlchemyError) as failed, engine.begin() as connection:
            connection.execute(text("INSERT INTO answers VALUES (1, :body)"), {"body": secret})
        assert "INSERT INTO answers" in str(failed.value)
        assert secret not in str(failed.value)
    finally:
        engine.dispose()
