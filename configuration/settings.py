"""Settings for every Interlock process.

Everything comes from INTERLOCK_* environment variables (or a .env file in the working directory).
The Temporal connection is deliberately *not* here: it comes from Temporal's own env-config
(TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE and the
TOML profile file), so the same worker runs against a dev server, a self-hosted cluster or Temporal
Cloud with no code change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ProviderConfig(BaseModel):
    """One provider entry. Keys are named by environment variable, never written here."""

    name: str = Field(min_length=1, description="What routes call it: 'openai', 'bedrock', ...")
    kind: Literal["openai", "bedrock", "gemini"]
    base_url: str | None = Field(None, description="OpenAI-compatible or Gemini endpoint.")
    api_key_env: str | None = Field(None, description="Environment variable holding the key.")
    region: str | None = Field(
        None,
        description="Bedrock: the AWS region it calls. OpenAI-compatible: where that server "
        "runs, as routes' `regions` constraints name it (unset: unknown, never allowed by one).",
    )
    endpoint_url: str | None = Field(None, description="Bedrock: endpoint override.")
    vertexai: bool = Field(False, description="Gemini: use Vertex AI instead of an API key.")
    project: str | None = None
    location: str | None = Field(None, description="Gemini on Vertex AI: the region it calls.")
    models: list[str] | None = Field(
        None, description="Models routes may name; None accepts any model id."
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="INTERLOCK_", env_file=".env", extra="ignore", env_file_encoding="utf-8"
    )

    home: Path = Field(
        Path(".interlock"),
        description="Directory for the embedded defaults: SQLite files, the codec key ring.",
    )
    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("DATABASE_URL", "INTERLOCK_DATABASE_URL"),
        description="SQLAlchemy URL of the store; default: a SQLite file under `home`.",
    )
    redis_url: str | None = Field(
        None,
        description="redis://host:port/db for the response cache, the API keys' rate limit "
        "buckets and the circuit breakers' states, shared by every gateway and worker; default: "
        "all three live in the store's database.",
    )

    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    max_body_bytes: int = Field(1_048_576, description="Largest accepted request body.")
    max_header_bytes: int = Field(
        32_768, gt=0, description="Largest accepted request head: request line and headers."
    )
    max_json_depth: int = Field(
        64, gt=0, description="Deepest nesting of arrays and objects a JSON body may have."
    )
    max_messages: int = Field(2_048, gt=0, description="Most messages one request may carry.")
    max_tools: int = Field(128, gt=0, description="Most tools one request may offer.")
    max_output_tokens: int = Field(
        1_000_000,
        gt=0,
        description="Largest max_tokens (or max_completion_tokens) a request may ask for.",
    )
    codec_max_body_bytes: int = Field(
        16_777_216,
        gt=0,
        description="Largest body the codec endpoint accepts: Temporal payloads, base64-encoded.",
    )
    temporal_payload_limit_bytes: int = Field(
        2_097_152,
        gt=0,
        description="Temporal's limit on one payload (the server's limit.blobSize.error, 2 MiB "
        "by default and on Temporal Cloud). A request whose workflow input would be larger is "
        "refused with a 413 rather than failing at the server.",
    )
    request_timeout_seconds: float = Field(
        120.0, description="Upper bound on one request workflow, retries and fallbacks included."
    )
    request_task_timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=120,
        description="Workflow task timeout of a request. A request runs whole in one workflow "
        "task, so this is how long a request whose gateway died waits before another gateway "
        "takes it over; a provider call longer than this makes the gateway report the task "
        "alive every 80% of it (one more round trip through Temporal each time).",
    )

    breaker_window_seconds: float = Field(
        30.0, gt=0, description="Circuit breakers judge a provider/model on this many seconds."
    )
    breaker_min_calls: int = Field(
        10, ge=1, description="Calls in the window before a breaker may open."
    )
    breaker_failure_rate: float = Field(
        0.5, gt=0, le=1, description="Share of failed calls in the window that opens a breaker."
    )
    breaker_open_seconds: float = Field(
        30.0, gt=0, description="How long an open breaker waits before letting probes through."
    )
    breaker_probes: int = Field(
        3, ge=1, description="Probe requests a half-open breaker lets through; all must answer."
    )

    stream_start_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="A streamed call not picked up by its gateway within this is abandoned "
        "(that gateway stopped, and its client with it).",
    )
    stream_heartbeat_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="A streamed call whose gateway shows no sign of life for this long is "
        "retried elsewhere or failed; calls report in every third of it, chunks or not.",
    )

    worker_metrics_host: str = Field(
        "127.0.0.1",
        description="Address `interlock worker` serves /metrics on (Prometheus text format: "
        "the Temporal SDK's metrics and the process's); 0.0.0.0 to be scraped from elsewhere.",
    )
    worker_metrics_port: int = Field(
        9464,
        ge=0,
        le=65535,
        description="Port of `interlock worker`'s /metrics; 0 turns it off. A port already taken "
        "(a second worker on the host) is logged and the worker runs without it.",
    )

    temporal_port: int = Field(
        7233, description="gRPC port of the dev server `interlock dev` starts."
    )
    temporal_ui_port: int = Field(8233, description="Web UI port of the dev server.")
    request_task_queue: str = "interlock-requests"
    provider_task_queue: str = "interlock-providers"
    provider_calls_in_gateway: bool = Field(
        True,
        description="Call providers from the gateway's own worker (on the request task queue) "
        "rather than from `interlock worker`s on the provider task queue. The activity is then "
        "dispatched eagerly with the workflow task that schedules it, which removes a matching "
        "round trip from every request; turn it off to keep provider credentials on workers only.",
    )
    control_task_queue: str = "interlock-control"
    alert_webhook_url: str | None = Field(
        None,
        description="Where SLO burn-rate alerts are POSTed as JSON when they begin or stop "
        "firing; default: nowhere (they are still in the store, the metrics and the Web UI).",
    )
    slo_check_every_seconds: float = Field(
        60.0, gt=0, description="How often the Schedule checks every route's SLOs."
    )
    experiment_evaluation_every_seconds: float = Field(
        300.0,
        gt=0,
        description="How often the Schedule evaluates the running experiments; each worker "
        "creates the Schedule (or brings its interval up to date) when it starts.",
    )

    codec_keyring: str | None = Field(
        None,
        description='Key ring as JSON ({"active": id, "keys": {id: base64}}); '
        "default: read or create `home`/codec-keys.json.",
    )
    codec_endpoint: bool = Field(
        False, description="Serve /codec/encode and /codec/decode for the Temporal Web UI."
    )
    codec_cors_origins: list[str] = Field(
        default_factory=lambda: ["http://localhost:8233", "http://127.0.0.1:8233"]
    )
    user_hash_key: SecretStr | None = Field(
        None,
        description="Key of the end-user hash on outcomes; default: a random key made once "
        "and kept in the store, shared by every process that uses it.",
    )
    codec_token: SecretStr | None = Field(
        None,
        description="Bearer token the codec endpoint requires ('Authorization: Bearer <token>'). "
        "Required when the gateway binds a non-loopback address with the codec endpoint on; "
        "when set, required on loopback too.",
    )

    providers: list[ProviderConfig] = Field(
        default_factory=list,
        description="Real providers, as JSON in INTERLOCK_PROVIDERS; the simulator is always on.",
    )

    demo_api_key: str | None = Field(
        None, description="API key of the demo tenant `interlock dev` seeds."
    )
    simulator_seed: int = 0
    simulator_latency_scale: float = Field(
        1.0, description="Multiplies every simulated latency; 0 makes simulated calls instant."
    )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'interlock.db').resolve()}"

    @property
    def codec_key_file(self) -> Path:
        return self.home / "codec-keys.json"


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
