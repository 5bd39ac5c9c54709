"""`interlock`: run the stack and manage it; thin commands over the services' own functions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from configuration import Settings, load_settings
from configuration.process import configure_logging, exit_process

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
tenants_app = typer.Typer(no_args_is_help=True, help="Tenants and their API keys.")
routes_app = typer.Typer(no_args_is_help=True, help="Routes and their variants.")
codec_app = typer.Typer(no_args_is_help=True, help="The payload encryption key ring.")
stats_app = typer.Typer(no_args_is_help=True, help="The statistics engine.")
guardrails_app = typer.Typer(no_args_is_help=True, help="PII, secret and injection detection.")
app.add_typer(tenants_app, name="tenants")
app.add_typer(routes_app, name="routes")
app.add_typer(codec_app, name="codec")
app.add_typer(stats_app, name="stats")
app.add_typer(guardrails_app, name="guardrails")
console = Console()

HomeOption = Annotated[
    Path | None, typer.Option(help="State directory (default .interlock, or INTERLOCK_HOME).")
]


def _settings(**overrides: object) -> Settings:
    return load_settings(**{k: v for k, v in overrides.items() if v is not None})


@app.command()
def dev(
    home: HomeOption = None,
    gateway_port: Annotated[int | None, typer.Option(help="Gateway HTTP port (8000).")] = None,
    temporal_port: Annotated[int | None, typer.Option(help="Temporal gRPC port (7233).")] = None,
    ui_port: Annotated[int | None, typer.Option(help="Temporal Web UI port (8233).")] = None,
    traffic_rps: Annotated[
        float, typer.Option(help="Synthetic requests per second to route 'chat' (0: none).")
    ] = 0.0,
) -> None:
    """Run the Temporal dev server, a worker and the gateway together until Ctrl-C."""
    from devstack.ports import PortInUse
    from devstack.run import run_dev

    settings = _settings(
        home=home,
        gateway_port=gateway_port,
        temporal_port=temporal_port,
        temporal_ui_port=ui_port,
    )
    try:
        code = run_dev(
            settings,
            traffic_rps=traffic_rps,
            say=lambda text: console.print(text, soft_wrap=True, markup=False, highlight=False),
        )
    except PortInUse as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        code = 2
    exit_process(code)


@app.command()
def worker() -> None:
    """Run a worker: provider calls, and later rollouts and evaluations."""
    import worker as worker_module

    worker_module.main()


@app.command()
def gateway(
    host: Annotated[str | None, typer.Option(help="Address to bind (127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (8000).")] = None,
) -> None:
    """Run the HTTP gateway with its embedded request worker."""
    import uvicorn

    from gateway.app import create_app
    from gateway.codec_routes import CodecExposureError

    configure_logging()
    settings = _settings(gateway_host=host, gateway_port=port)
    try:
        app = create_app(settings)
    except CodecExposureError as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True, highlight=False)
        exit_process(2)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.gateway_host,
            port=settings.gateway_port,
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
    )
    server.run()
    # uvicorn reports a failed start (port taken, Temporal unreachable) by not starting.
    exit_process(0 if server.started else 1)


@tenants_app.command("create")
def tenants_create(tenant_id: str, name: str = "", home: HomeOption = None) -> None:
    """Create a tenant (or reuse it) and print a new API key for it, shown only this once."""
    from store import create_store_engine, init_schema
    from store.tenants import add_api_key, ensure_tenant

    engine = create_store_engine(_settings(home=home).resolved_database_url)
    init_schema(engine)
    ensure_tenant(engine, tenant_id, name)
    key = add_api_key(engine, tenant_id)
    console.print(key, soft_wrap=True)
    exit_process(0)


@routes_app.command("list")
def routes_list(home: HomeOption = None) -> None:
    """Show every route with its live version and variants."""
    from store import create_store_engine, init_schema
    from store.routes import list_routes, live_targets

    engine = create_store_engine(_settings(home=home).resolved_database_url)
    init_schema(engine)
    table = Table("route", "version", "variant", "provider/model", "weight")
    for route in list_routes(engine):
        found = live_targets(engine, route.name)
        for target in found[1] if found else []:
            table.add_row(
                route.name,
                str(route.active_version),
                target.variant,
                f"{target.provider}/{target.model}",
                f"{target.weight:g}",
            )
    console.print(table)
    exit_process(0)


@codec_app.command("rotate")
def codec_rotate(home: HomeOption = None) -> None:
    """Add a new active key to the key file; older keys stay so old histories still decode.

    Restart the worker and gateway afterwards so they encrypt with the new key.
    """
    from codec.keyring import load_keyring, write_keyring

    settings = _settings(home=home)
    if settings.codec_keyring:
        console.print(
            "[red]error:[/red] the key ring comes from INTERLOCK_CODEC_KEYRING; "
            "rotate it where that variable is set"
        )
        exit_process(2)
    ring = load_keyring(None, settings.codec_key_file).rotated()
    write_keyring(settings.codec_key_file, ring)
    console.print(f"active key is now {ring.active_key_id} ({len(ring.keys)} keys in the ring)")
    exit_process(0)


@stats_app.command("judge")
def stats_judge() -> None:
    """Judge looks at candidate-vs-baseline comparisons: JSON Lines on stdin, one decision a line.

    Input: {"id", "metric", "kind": "proportion"|"mean", "direction", "alpha", "margin",
    "baseline": {"n", "events"} or {"n", "sum", "sum_sq"}, "candidate": {...}} with cumulative
    counts; lines with the same id are successive looks. Output, one per input line:
    {"id", "decision": "pass"|"fail"|"continue", "p_value", "ci", "method", ...}, or
    {"id", "error"} for a line that cannot be judged. Exits 1 if any line was an error.
    """
    import sys

    from experiments.judge import judge_json_lines

    lines = [line for line in sys.stdin if line.strip()]
    outputs, errors = judge_json_lines(lines)
    sys.stdout.write("\n".join(outputs) + ("\n" if outputs else ""))
    sys.stdout.flush()
    exit_process(1 if errors else 0)


@guardrails_app.command("scan")
def guardrails_scan() -> None:
    """Scan texts: JSON Lines {"id", "text"} on stdin, one result a line on stdout.

    Output: {"id", "findings": [{"type", "start", "end", "score"}], "redacted", "injection_score"}
    with character offsets into `text` (end exclusive), or {"id", "error"} for a bad line (then
    the exit code is 1).
    """
    import sys

    from guardrails.registry import default_registry
    from guardrails.scan import scan_lines

    outputs, errors = scan_lines(sys.stdin, default_registry())
    sys.stdout.write("".join(line + "\n" for line in outputs))
    sys.stdout.flush()
    exit_process(1 if errors else 0)


def run() -> None:
    """Console entry point: every path out goes through exit_process (see its docstring)."""
    try:
        app()
    except SystemExit as exc:
        exit_process(exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1))
    exit_process(0)
