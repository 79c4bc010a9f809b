"""The shared options, declared once, and what they said: ``Settings``.

Shared options (``-v``, ``-q``, ``--api-key``, ``--base-url``, ``--sandbox``,
``--allow-insecure-http``, ``--traceback`` and the pacing ones) are accepted before or
after a command's name; each level's callback records what it was given in the one
``Settings`` object of the invocation.

Every ``bulksync`` start imports the command modules, so they import at their top only
click and light modules (``bulksync.defaults``, ``errors``, ``version``); the rest is
imported inside the function that uses it (tests/test_startup.py checks which).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

from bulksync.defaults import API_KEY_ENV, BASE_URL_ENV, DEFAULT_STATE

if TYPE_CHECKING:
    from bulksync.client import NextStepClient
    from bulksync.config import Connection

F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger("bulksync")


@dataclass
class Settings:
    """What the shared options said, wherever on the command line they stood."""

    verbose: int = 0
    quiet: bool = False
    api_key: str | None = None
    base_url: str | None = None
    sandbox: bool = False
    traceback: bool = False
    max_rate: int | None = None
    rate_window: float | None = None
    in_flight: int | None = None
    allow_insecure_http: bool = False
    max_retry_after: float | None = None
    _logging_on: bool = False

    def activate(self) -> None:
        """Set up logging to stderr for the verbosity asked for (once)."""
        if self._logging_on:
            return
        self._logging_on = True
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_PrintableFormatter("%(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger("bulksync")
        root.handlers[:] = [handler]
        root.propagate = False
        if self.quiet:
            root.setLevel(logging.ERROR)
        elif self.verbose >= 2:
            root.setLevel(logging.DEBUG)
        elif self.verbose == 1:
            root.setLevel(logging.INFO)
        else:
            root.setLevel(logging.WARNING)
        # Each request and answer line only at -vvv.
        http_level = logging.DEBUG if self.verbose >= 3 else max(root.level, logging.INFO)
        logging.getLogger("bulksync.http").setLevel(http_level)

    def connection(self) -> Connection:
        from bulksync.config import Connection

        return Connection.resolve(
            api_key=self.api_key, base_url=self.base_url, sandbox=self.sandbox
        )

    @contextmanager
    def client(self) -> Iterator[NextStepClient]:
        """A client for the command; ``-v`` reports its request counts at the end."""
        kwargs: dict[str, Any] = {}
        if self.max_rate:
            kwargs["rate_limit"] = self.max_rate
        if self.max_rate or self.rate_window:
            kwargs["window"] = self.rate_window or 60.0
        if self.in_flight:
            kwargs["max_in_flight"] = self.in_flight
        if self.allow_insecure_http:
            kwargs["allow_insecure_http"] = True
        if self.max_retry_after is not None:
            kwargs["max_retry_after"] = self.max_retry_after
        client = self.connection().client(**kwargs)
        try:
            yield client
        finally:
            client.close()
            log.info("%s", client.stats.summary())


def say(text: str, *, err: bool = False) -> None:
    """Echo text for people: control characters from servers and sheets made visible."""
    from bulksync.report import printable

    click.echo(printable(text), err=err)


class _PrintableFormatter(logging.Formatter):
    """Log lines on a terminal carry no control sequence (server text ends up in them)."""

    def format(self, record: logging.LogRecord) -> str:
        from bulksync.report import printable

        return printable(super().format(record))


def _settings(ctx: click.Context) -> Settings:
    return ctx.ensure_object(Settings)


def _set(name: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        # None: not given at this level. A 0 may be meant (--max-retry-after 0).
        if value is None or value is False:
            return
        settings = _settings(ctx)
        if name == "verbose":
            settings.verbose += int(value)
        else:
            setattr(settings, name, value)

    return callback


def shared_options(func: F) -> F:
    """The options every command accepts, before or after its name."""
    options = [
        click.option(
            "-v",
            "--verbose",
            count=True,
            expose_value=False,
            callback=_set("verbose"),
            help="More output on stderr; -vvv logs every request (key redacted).",
        ),
        click.option(
            "-q",
            "--quiet",
            is_flag=True,
            expose_value=False,
            callback=_set("quiet"),
            help="Only errors on stderr: no progress, no warnings.",
        ),
        click.option(
            "--api-key",
            metavar="KEY",
            expose_value=False,
            callback=_set("api_key"),
            help=f"NextStep API key [env {API_KEY_ENV}]. Never written anywhere.",
        ),
        click.option(
            "--base-url",
            metavar="URL",
            expose_value=False,
            callback=_set("base_url"),
            help=f"API base URL [env {BASE_URL_ENV}; default the public NextStep].",
        ),
        click.option(
            "--sandbox",
            is_flag=True,
            expose_value=False,
            callback=_set("sandbox"),
            help=f"Use the in-process sandbox kept in {DEFAULT_STATE} (no account).",
        ),
        click.option(
            "--allow-insecure-http",
            is_flag=True,
            expose_value=False,
            callback=_set("allow_insecure_http"),
            help="Allow a plain http:// base URL to another machine (the key then crosses "
            "the network in clear). Loopback needs no permission.",
        ),
        click.option(
            "--max-rate",
            type=click.IntRange(min=1),
            metavar="N",
            expose_value=False,
            callback=_set("max_rate"),
            help="Requests per minute bulksync allows itself [default: 100, NextStep's "
            "limit]. Raise it only if your plan's limit is higher.",
        ),
        click.option(
            # Not in the help: for rehearsing against `sandbox serve --window S`, where
            # --max-rate N then counts N requests per S seconds instead of per minute.
            "--rate-window",
            type=click.FloatRange(min=0, min_open=True),
            metavar="SECONDS",
            hidden=True,
            expose_value=False,
            callback=_set("rate_window"),
        ),
        click.option(
            "--in-flight",
            type=click.IntRange(1, 32),
            metavar="N",
            expose_value=False,
            callback=_set("in_flight"),
            help="Requests sent at once [default: 4].",
        ),
        click.option(
            "--max-retry-after",
            type=click.FloatRange(min=0),
            metavar="SECONDS",
            expose_value=False,
            callback=_set("max_retry_after"),
            help="The longest wait a 429's Retry-After may ask for; past it, give up with "
            "an error [default: 300].",
        ),
        click.option(
            "--traceback",
            is_flag=True,
            expose_value=False,
            callback=_set("traceback"),
            help="Show the Python traceback of an error (for bug reports).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func
