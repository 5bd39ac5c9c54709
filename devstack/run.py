"""The `interlock dev` sequence: check ports, start the server, seed, start worker and gateway."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable

from codec import load_keyring
from configuration import Settings
from devstack.demo_experiments import DemoExperiments
from devstack.demo_rollouts import DemoRollouts
from devstack.ports import require_free_ports
from devstack.seed import DEMO_ROUTES_FILE, DEMO_TENANT, demo_api_key, seed_demo
from devstack.supervisor import ChildExited, Stack, StopRequested, temporal_binary
from devstack.traffic import TrafficGenerator
from store import create_store_engine, init_schema
from store.route_files import RouteFileError

STARTUP_TIMEOUT_SECONDS = 60.0


def run_dev(
    settings: Settings,
    traffic_rps: float = 0.0,
    say: Callable[[str], None] = print,
    demo_rollouts: bool = False,
    demo_experiments: bool = False,
) -> int:
    """Run the stack until SIGINT, SIGTERM or SIGHUP; returns the process exit code.

    SIGHUP (the terminal closed) must stop the stack too: the children run in their own
    sessions, so they would not get it themselves and would outlive the supervisor.
    """
    s = settings
    if demo_experiments and "INTERLOCK_EXPERIMENT_EVALUATION_EVERY_SECONDS" not in os.environ:
        # A demo is watched: evaluate every minute rather than every five.
        s = s.model_copy(update={"experiment_evaluation_every_seconds": 60.0})
    say = _never_failing(say)
    require_free_ports(
        "127.0.0.1",
        {
            "Temporal gRPC": (s.temporal_port, "--temporal-port or INTERLOCK_TEMPORAL_PORT"),
            "Temporal Web UI": (s.temporal_ui_port, "--ui-port or INTERLOCK_TEMPORAL_UI_PORT"),
            "gateway": (s.gateway_port, "--gateway-port or INTERLOCK_GATEWAY_PORT"),
        },
    )
    s.home.mkdir(parents=True, exist_ok=True)
    # Create the key ring now, once, so worker and gateway do not race to create it.
    load_keyring(s.codec_keyring, s.codec_key_file)
    engine = create_store_engine(s.resolved_database_url)
    try:
        init_schema(engine)  # the schema migrations, before any other process starts
        api_key = demo_api_key(s.home, s.demo_api_key)
        seeded = seed_demo(engine, api_key)
    except RouteFileError as exc:
        say("\n".join([*exc.problems, f"error: {DEMO_ROUTES_FILE}: nothing was applied"]))
        return 2
    finally:
        engine.dispose()
    for result in seeded:
        say(f"route {result.name}: {result.describe()}")

    stack = Stack(s, say=say)
    previous = {
        signum: signal.signal(signum, stack.request_stop)
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }
    traffic: TrafficGenerator | None = None
    rollouts: DemoRollouts | None = None
    experiments: DemoExperiments | None = None
    started = time.monotonic()
    try:
        say(f"starting the Temporal dev server on {stack.temporal_address}")
        stack.start_temporal()
        stack.wait_for(
            "the Temporal dev server", lambda: _temporal_healthy(stack), STARTUP_TIMEOUT_SECONDS
        )
        say("starting the worker and the gateway")
        stack.start_interlock("worker")
        stack.start_interlock("gateway")
        remaining = STARTUP_TIMEOUT_SECONDS - (time.monotonic() - started)
        stack.wait_for("the gateway", stack.gateway_ready, max(remaining, 5.0))
        say(banner(stack, api_key, time.monotonic() - started))
        if traffic_rps > 0:
            traffic = TrafficGenerator(f"{stack.gateway_url}/v1", api_key, traffic_rps)
            traffic.start()
            say(f"sending synthetic traffic at {traffic_rps:g} requests/s to route 'chat'")
        if demo_rollouts:
            rollouts = DemoRollouts(stack, api_key, say)
            rollouts.start()
        if demo_experiments:
            experiments = DemoExperiments(stack, api_key, say)
            experiments.start()
        while not stack.stop_requested:
            stack.tend_children()
            if rollouts is not None:
                rollouts.poll()
            if experiments is not None:
                experiments.poll()
            time.sleep(0.2)
        return 0
    except StopRequested:
        return 0
    except ChildExited as exc:
        say(f"error: {exc}; its log ({exc.child.log_path}) ends with:\n{exc.child.tail()}")
        return 1
    except TimeoutError as exc:
        say(f"error: {exc}; logs are in {stack.log_dir}")
        return 1
    finally:
        if traffic is not None:
            traffic.stop()
        if rollouts is not None:
            rollouts.stop()
        if experiments is not None:
            experiments.stop()
        stack.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        say("stopped")


def _never_failing(say: Callable[[str], None]) -> Callable[[str], None]:
    """`say`, except that a lost terminal (EIO after SIGHUP) cannot interrupt stopping the stack."""

    def safe_say(text: str) -> None:
        with contextlib.suppress(OSError):
            say(text)

    return safe_say


def _temporal_healthy(stack: Stack) -> bool:
    try:
        check = subprocess.run(
            [
                temporal_binary(),
                "operator",
                "cluster",
                "health",
                "--address",
                stack.temporal_address,
            ],
            capture_output=True,
            timeout=5,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return check.returncode == 0 and b"SERVING" in check.stdout


def banner(stack: Stack, api_key: str, seconds: float) -> str:
    base = f"{stack.gateway_url}/v1"
    return f"""
Interlock is up ({seconds:.1f} s).

  Temporal Web UI   {stack.ui_url}
  Gateway (OpenAI)  {base}
  Demo tenant       {DEMO_TENANT}
  Demo API key      {api_key}
  Logs              {stack.log_dir}

Try it:
  curl -s {base}/chat/completions \\
    -H "Authorization: Bearer {api_key}" -H "Content-Type: application/json" \\
    -d '{{"model": "chat", "messages": [{{"role": "user", "content": "Hello"}}]}}'

Press Ctrl-C to stop everything.
"""
