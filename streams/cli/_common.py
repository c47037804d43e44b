"""What every command shares: settings, logging set-up and one-line error reporting."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import pydantic
import typer

from streams import clock
from streams.config import Settings
from streams.errors import ConfigError, StreamsError

__all__ = ["configure_logging", "emit_json", "fail", "load_settings", "reports_errors",
           "reports_errors_as"]

P = ParamSpec("P")
R = TypeVar("R")

_state = {"verbose": False}


def set_verbose(verbose: bool) -> None:
    _state["verbose"] = verbose


def configure_logging(level: str = "info") -> None:
    """Send library logs to stderr; only the CLI configures handlers."""
    logging.basicConfig(level=level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def load_settings() -> Settings:
    """Read the settings from the environment; ConfigError names what is wrong."""
    try:
        settings = Settings()
    except pydantic.ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in error['loc']) or 'settings'}: "
                             f"{error['msg']}" for error in exc.errors())
        raise ConfigError(f"invalid settings: {problems}") from exc
    clock.set_offset_us(settings.clock.offset_us)
    return settings


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one line on stderr (newlines in *message* folded) and return the Exit to raise."""
    typer.echo(f"emr-streams: error: {' '.join(message.split())}", err=True)
    return typer.Exit(code)


def emit_json(payload: object) -> None:
    typer.echo(json.dumps(payload, default=str, sort_keys=True))


def reports_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a StreamsError into one line on stderr and exit code 1 (traceback with -v)."""
    return reports_errors_as(1)(func)


def reports_errors_as(code: int) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Like reports_errors, with exit *code*: for commands whose 1 means something else."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return func(*args, **kwargs)
            except StreamsError as exc:
                if _state["verbose"]:
                    raise
                raise fail(str(exc), code) from None

        return wrapper

    return decorate
