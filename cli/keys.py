"""`interlock keys ...`: API keys: create one (shown once), list them, revoke one."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from cli.common import HomeOption, console, errors, fail, store

keys_app = typer.Typer(
    no_args_is_help=True, help="API keys: their scopes, rate limits and revocation."
)


class Scope(StrEnum):
    inference = "inference"
    admin = "admin"


@keys_app.command("create")
def create(
    tenant: str,
    scope: Annotated[
        list[Scope] | None,
        typer.Option(
            "--scope",
            help="What the key may do; repeat for several (default: inference). inference: "
            "chat completions, models, feedback; admin: the gateway's administrative endpoints.",
        ),
    ] = None,
    rate_limit: Annotated[
        float | None,
        typer.Option(
            "--rate-limit",
            min=0.001,
            help="Requests per second the key may make, shared by every gateway (default: none).",
        ),
    ] = None,
    burst: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Requests the key may make at once before --rate-limit paces it (default: one "
            "second's worth, at least 1).",
        ),
    ] = None,
    home: HomeOption = None,
) -> None:
    """Make a new API key for TENANT and print it: it is shown only this once."""
    from store.rate_limits import RateLimit
    from store.tenants import add_api_key, tenant_exists

    if burst is not None and rate_limit is None:
        raise fail("--burst needs --rate-limit", code=2)
    limit = None if rate_limit is None else RateLimit.of(rate_limit, burst)
    scopes = [s.value for s in scope] if scope else ["inference"]
    with store(home) as engine:
        if not tenant_exists(engine, tenant):
            raise fail(f"no tenant named {tenant!r} (make it with `interlock tenants create`)")
        key = add_api_key(engine, tenant, scopes=scopes, rate_limit=limit)
    # The key alone on stdout, for `KEY=$(interlock keys create ...)`; the rest on stderr.
    typer.echo(key)
    limited = f", rate limit {limit.describe()}" if limit else ""
    errors.print(
        f"key {key[:8]} for tenant {tenant!r}, scopes {' '.join(scopes)}{limited}; "
        "it is shown only this once",
        soft_wrap=True,
        markup=False,
        highlight=False,
    )


@keys_app.command("list")
def list_(
    tenant: Annotated[str | None, typer.Argument(help="Only this tenant's keys.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="JSON, for scripts.")] = False,
    home: HomeOption = None,
) -> None:
    """Every key (or TENANT's): prefix, tenant, scopes, rate limit, created, revoked. Never the
    key itself, which is not kept."""
    from store.tenants import list_api_keys, tenant_exists

    with store(home) as engine:
        if tenant is not None and not tenant_exists(engine, tenant):
            raise fail(f"no tenant named {tenant!r}")
        found = list_api_keys(engine, tenant)
    rows = [
        {
            "prefix": info.prefix,
            "tenant": info.tenant_id,
            "scopes": list(info.scopes),
            "rate_limit_per_second": info.rate_limit.per_second if info.rate_limit else None,
            "burst": info.rate_limit.burst if info.rate_limit else None,
            "created_at": info.created_at.isoformat(),
            "revoked_at": info.revoked_at.isoformat() if info.revoked_at else None,
        }
        for info in found
    ]
    if json_output:
        console.print_json(json.dumps(rows))
        return
    if not rows:
        console.print("no keys", markup=False, highlight=False)
        return
    table = Table("prefix", "tenant", "scopes", "rate limit", "created", "revoked")
    for info in found:
        table.add_row(
            info.prefix,
            info.tenant_id,
            " ".join(info.scopes),
            info.rate_limit.describe() if info.rate_limit else "-",
            f"{info.created_at:%Y-%m-%d %H:%M}",
            f"{info.revoked_at:%Y-%m-%d %H:%M}" if info.revoked_at else "-",
        )
    console.print(table)


@keys_app.command("revoke")
def revoke(
    key_or_prefix: Annotated[
        str, typer.Argument(help="The whole key, or its prefix as `keys list` shows it.")
    ],
    home: HomeOption = None,
) -> None:
    """Revoke a key. Every gateway refuses it within a second (each keeps what it read of a key
    for that long)."""
    from store.tenants import keys_matching, revoke_key_id

    with store(home) as engine:
        found = keys_matching(engine, key_or_prefix)
        live = [info for info in found if info.revoked_at is None]
        if not found:
            raise fail(f"no key is {key_or_prefix!r} or starts with it (see `interlock keys list`)")
        if len(live) > 1:
            tenants = ", ".join(sorted({info.tenant_id for info in live}))
            raise fail(
                f"{len(live)} keys start with {key_or_prefix!r} (tenants: {tenants}): "
                "give the whole key"
            )
        if not live:
            info = found[-1]
            console.print(
                f"key {info.prefix} of tenant {info.tenant_id!r} was already revoked "
                f"at {info.revoked_at:%Y-%m-%d %H:%M:%S} UTC",
                markup=False,
                highlight=False,
            )
            return
        [info] = live
        revoke_key_id(engine, info.key_id)
    console.print(
        f"revoked key {info.prefix} of tenant {info.tenant_id!r}; gateways refuse it within a "
        "second",
        markup=False,
        highlight=False,
    )
