"""``bulksync sandbox serve`` and ``bulksync sandbox reset``: the local NextStep."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from bulksync.cli.group import CONTEXT, BulksyncGroup, cli
from bulksync.cli.options import _settings, say, shared_options
from bulksync.defaults import API_KEY_ENV, BASE_URL_ENV, DEFAULT_STATE
from bulksync.errors import ConfigError


@cli.group("sandbox", cls=BulksyncGroup, context_settings=CONTEXT)
@shared_options
def sandbox_group() -> None:
    """Run or reset the local NextStep emulator.

    \b
    Examples:
      bulksync sandbox serve
      bulksync sandbox reset
    """


_state_option = click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_STATE,
    show_default=True,
    help="The SQLite file that keeps the sandbox's state.",
)
_seed_option = click.option(
    "--seed",
    "seed_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Seed a new state from this directory (default: the bundled sample_data/).",
)


@sandbox_group.command("serve", context_settings=CONTEXT)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8765,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0 picks a free one).",
)
@_state_option
@_seed_option
@click.option(
    "--rate-limit",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Requests allowed per window and key.",
)
@click.option(
    "--window",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Length of the rate-limit window in seconds.",
)
@click.option(
    "--latency-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Added latency per request.",
)
@click.option(
    "--fail-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Fraction of requests answered 500 (half before, half after doing the work).",
)
@click.option(
    "--drop-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Fraction of connections dropped without an answer (half after the work).",
)
@click.option("--fault-seed", type=int, help="Seed of the fault dice, for a repeatable run.")
@shared_options
@click.pass_context
def sandbox_serve(
    ctx: click.Context,
    host: str,
    port: int,
    state: Path,
    seed_dir: Path | None,
    rate_limit: int,
    window: float,
    latency_ms: float,
    fail_rate: float,
    drop_rate: float,
    fault_seed: int | None,
) -> None:
    """Serve the sandbox over HTTP until Ctrl-C.

    It accepts the key nxs_live_sandbox unless --api-key names another. State is kept
    in --state between runs.

    \b
    Examples:
      bulksync sandbox serve
      bulksync sandbox serve --port 9000 --rate-limit 20 --window 10
      bulksync sandbox serve --fail-rate 0.2 --drop-rate 0.05 --latency-ms 80
    """
    from bulksync.sandbox import SANDBOX_API_KEY, SandboxConfig, open_sandbox
    from bulksync.sandbox.server import make_server

    settings = _settings(ctx)
    settings.activate()
    config = SandboxConfig(
        api_key=settings.api_key or SANDBOX_API_KEY,
        rate_limit=rate_limit,
        window=window,
        latency_ms=latency_ms,
        fail_rate=fail_rate,
        drop_rate=drop_rate,
        fault_seed=fault_seed,
    )
    sandbox = open_sandbox(state, seed_dir=seed_dir, config=config)
    server = make_server(sandbox, host, port)
    try:
        sock = server.config.bind_socket()
    except (OSError, SystemExit) as exc:
        sandbox.store.close()
        raise ConfigError(
            f"The sandbox cannot listen on {host}:{port} ({exc}); is the port "
            "in use? Choose another with --port."
        ) from None
    url = f"http://{host}:{sock.getsockname()[1]}/api/v1"
    say(f"NextStep sandbox serving at {url}")
    if not settings.quiet:
        key_note = "the key given with --api-key" if settings.api_key else SANDBOX_API_KEY
        say(f"  API key: {key_note}; state: {state}; Ctrl-C stops it.", err=True)
        say(
            f"  Point bulksync at it: export {BASE_URL_ENV}={url}"
            + ("" if settings.api_key else f" {API_KEY_ENV}={SANDBOX_API_KEY}"),
            err=True,
        )
    with contextlib.suppress(KeyboardInterrupt):
        # uvicorn shuts down cleanly on Ctrl-C, then re-raises it: here it is the way out.
        server.run(sockets=[sock])
    sandbox.store.close()
    if not settings.quiet:
        say("Sandbox stopped.", err=True)


@sandbox_group.command("reset", context_settings=CONTEXT)
@_state_option
@_seed_option
@shared_options
@click.pass_context
def sandbox_reset(ctx: click.Context, state: Path, seed_dir: Path | None) -> None:
    """Throw away the sandbox's state and seed it afresh.

    \b
    Examples:
      bulksync sandbox reset
      bulksync sandbox reset --state /tmp/rehearsal.db --seed ./my_team
    """
    from bulksync.sandbox import reset_sandbox

    settings = _settings(ctx)
    settings.activate()
    reset_sandbox(state, seed_dir=seed_dir)
    if not settings.quiet:
        say(f"Sandbox state {state} reset from {seed_dir or 'the bundled sample_data/'}.", err=True)
