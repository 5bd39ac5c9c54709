"""`interlock`: run the stack and manage it; thin commands over the services' own functions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli.budgets import budgets_app
from cli.common import HomeOption, console, errors
from cli.common import fail as _fail
from cli.common import settings_with as _settings
from cli.common import store as _store
from cli.experiment import experiment_app
from cli.flags import flags_app, kill_switch
from cli.keys import keys_app
from cli.rollout import rollout_app
from configuration.process import configure_logging, exit_process

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
tenants_app = typer.Typer(no_args_is_help=True, help="Tenants and their API keys.")
routes_app = typer.Typer(no_args_is_help=True, help="Routes and their variants.")
codec_app = typer.Typer(no_args_is_help=True, help="The payload encryption key ring.")
stats_app = typer.Typer(no_args_is_help=True, help="The statistics engine.")
guardrails_app = typer.Typer(no_args_is_help=True, help="PII, secret and injection detection.")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks that start their own stack.")
db_app = typer.Typer(no_args_is_help=True, help="The store's database schema (Alembic migrations).")
app.add_typer(tenants_app, name="tenants")
app.add_typer(routes_app, name="routes")
app.add_typer(codec_app, name="codec")
app.add_typer(stats_app, name="stats")
app.add_typer(guardrails_app, name="guardrails")
app.add_typer(bench_app, name="bench")
app.add_typer(db_app, name="db")
app.add_typer(rollout_app, name="rollout")
app.add_typer(experiment_app, name="experiment")
app.add_typer(budgets_app, name="budgets")
app.add_typer(flags_app, name="flags")
app.add_typer(keys_app, name="keys")
app.command("kill-switch")(kill_switch)


@app.command()
def dev(
    home: HomeOption = None,
    gateway_port: Annotated[int | None, typer.Option(help="Gateway HTTP port (8000).")] = None,
    temporal_port: Annotated[int | None, typer.Option(help="Temporal gRPC port (7233).")] = None,
    ui_port: Annotated[int | None, typer.Option(help="Temporal Web UI port (8233).")] = None,
    traffic_rps: Annotated[
        float, typer.Option(help="Synthetic requests per second to route 'chat' (0: none).")
    ] = 0.0,
    demo_rollouts: Annotated[
        bool,
        typer.Option(help="Start the demo's two rollouts (devstack/rollouts/) with their traffic."),
    ] = False,
    demo_experiments: Annotated[
        bool,
        typer.Option(
            help="Start the demo's experiment (devstack/experiments/) with its traffic; the "
            "Schedule then evaluates every minute."
        ),
    ] = False,
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
            demo_rollouts=demo_rollouts,
            demo_experiments=demo_experiments,
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
    from gateway.app import create_app, serve
    from gateway.codec_routes import CodecExposureError

    configure_logging()
    settings = _settings(gateway_host=host, gateway_port=port)
    try:
        app = create_app(settings)
    except CodecExposureError as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True, highlight=False)
        exit_process(2)
    exit_process(0 if serve(app, settings) else 1)


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


# The db and routes commands never start the Temporal runtime, so they return normally (Typer's
# CliRunner can test them); only `run()`, the console entry point, leaves through exit_process.


@db_app.command("upgrade")
def db_upgrade(home: HomeOption = None) -> None:
    """Upgrade the store to the newest schema revision (processes also do this at start).

    A database created before migrations existed is adopted: its tables and rows are kept.
    """
    from store import init_schema
    from store.schema import schema_revision

    with _store(home, migrate=False) as engine:
        before = schema_revision(engine)
        init_schema(engine)
        after = schema_revision(engine)
    if before == after:
        console.print(f"already at revision {after}", markup=False)
    else:
        console.print(f"upgraded from revision {before or '(none)'} to {after}", markup=False)


@db_app.command("current")
def db_current(home: HomeOption = None) -> None:
    """Print the database's schema revision and the newest one this code has."""
    from store.schema import head_revision, schema_revision

    with _store(home, migrate=False) as engine:
        current = schema_revision(engine)
    console.print(f"database at {current or '(none)'}, newest is {head_revision()}", markup=False)


@db_app.command("revision")
def db_revision(
    message: Annotated[str, typer.Argument(help="What the change does, e.g. 'add budgets'.")],
    home: HomeOption = None,
) -> None:
    """For developers: write a migration for what store/tables.py changed (review it!).

    Run it against a scratch database: it is upgraded first, then compared with the tables.
    """
    from store.schema import create_revision

    with _store(home) as engine:
        path = create_revision(engine, message)
    console.print(f"wrote {path}", markup=False, highlight=False)


@routes_app.command("list")
def routes_list(home: HomeOption = None) -> None:
    """Show every route with its live version and variants."""
    from store.routes import list_routes, live_targets

    table = Table("route", "version", "variant", "provider/model", "weight")
    with _store(home) as engine:
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


@routes_app.command("apply")
def routes_apply(
    file: Annotated[Path, typer.Argument(help="YAML file, one route per document.")],
    home: HomeOption = None,
) -> None:
    """Publish each route in FILE as a new version where it changed (see docs/routes.md).

    The whole file is checked first and applied in one transaction: an invalid file changes
    nothing and exits with code 2.
    """
    from store.route_files import RouteFileError, load_route_file
    from store.routes import publish_routes

    try:
        configs = load_route_file(file)
    except RouteFileError as exc:
        for problem in exc.problems:
            errors.print(problem, soft_wrap=True, markup=False, highlight=False)
        raise _fail(f"{file}: nothing was applied", code=2) from exc
    with _store(home) as engine:
        results = publish_routes(engine, configs)
    for result in results:
        console.print(f"{result.name}: {result.describe()}", markup=False, highlight=False)


@routes_app.command("get")
def routes_get(
    name: str,
    version: Annotated[
        int | None, typer.Option(help="A past version instead of the live one.")
    ] = None,
    home: HomeOption = None,
) -> None:
    """Print a route's live version (or --version N) as YAML that `routes apply` accepts."""
    from store.route_files import dump_route
    from store.routes import config_at, live_config

    with _store(home) as engine:
        if version is None:
            found = live_config(engine, name)
        else:
            config = config_at(engine, name, version)
            found = None if config is None else (version, config)
    if found is None:
        which = "" if version is None else f" with a version {version}"
        raise _fail(f"no route named {name!r}{which}")
    typer.echo(dump_route(found[1], version=found[0]), nl=False)


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


@bench_app.command("request")
def bench_request(
    json_output: Annotated[
        bool, typer.Option("--json", help="One line of JSON, for scripts and CI.")
    ] = False,
    requests: Annotated[int, typer.Option(help="Requests per level in each round.")] = 400,
    rounds: Annotated[
        int, typer.Option(min=1, help="Rounds in which floor and pipeline take turns.")
    ] = 3,
) -> None:
    """The request path against its floor, on one dev server it starts: throughput, overhead over
    a direct provider call, CPU per request of the gateway and the server (JSON)."""
    from benchmarks.request_bench import main as bench

    bench(requests=requests, as_json=json_output, rounds=rounds)
    exit_process(0)


@bench_app.command("experiments")
def bench_experiments(
    rows: Annotated[int, typer.Option(min=1, help="Outcome rows in the experiment.")] = 10_000_000,
    database_url: Annotated[
        str | None,
        typer.Option(
            help="A store to fill (its outcomes are emptied first); default a new SQLite file."
        ),
    ] = None,
) -> None:
    """How long one experiment look takes over ROWS outcome rows, and its memory (one JSON line)."""
    from benchmarks.experiment_scale import main as bench

    bench(rows=rows, database_url=database_url)


@bench_app.command("rollouts")
def bench_rollouts(
    rollouts: Annotated[int, typer.Option(min=1, help="Simulated rollouts of each kind.")] = 500,
    looks: Annotated[int, typer.Option(min=1, help="Looks before a rollout gives up.")] = 20,
    per_look: Annotated[int, typer.Option(min=1, help="Requests per arm between looks.")] = 300,
) -> None:
    """How often rollouts decide wrongly, through the real SQL and judge: A/A candidates rolled
    back (false alarms) and candidates with twice the error rate caught (one JSON line)."""
    from benchmarks.rollout_calibration import main as bench

    bench(rollouts=rollouts, looks=looks, per_look=per_look)


def run() -> None:
    """Console entry point: every path out goes through exit_process (see its docstring)."""
    try:
        app()
    except SystemExit as exc:
        exit_process(exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1))
    exit_process(0)
