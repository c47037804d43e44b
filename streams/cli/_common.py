"""What every command shares: settings, logging set-up and one-line error reporting."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import psycopg
import pydantic
import typer
from confluent_kafka import KafkaException
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings

from streams import clock
from streams.config import Settings, kafka_name_problem
from streams.db.reachability import check_reachable as check_postgres
from streams.errors import ConfigError, StreamsError
from streams.kafka.admin import check_reachable as check_kafka
from streams.kafka.errors import kafka_reason

__all__ = ["command_group", "configure_logging", "describe_error", "emit_json", "fail",
           "load_settings", "reports_errors", "reports_errors_as", "topic_option", "verbose"]

P = ParamSpec("P")
R = TypeVar("R")

_state = {"verbose": False}


def set_verbose(verbose: bool) -> None:
    _state["verbose"] = verbose


def verbose() -> bool:
    """True when -v/--verbose was given (errors show their traceback)."""
    return _state["verbose"]


def command_group(**kwargs: Any) -> typer.Typer:
    """A typer app with the project's conventions: plain help that wraps at the terminal's
    width (no boxes, nothing cut off), no completion commands, no pretty tracebacks."""
    kwargs.setdefault("no_args_is_help", True)
    return typer.Typer(rich_markup_mode=None, add_completion=False,
                       pretty_exceptions_enable=False, **kwargs)


def configure_logging(level: str = "info") -> None:
    """Send library logs to stderr; only the CLI configures handlers."""
    logging.basicConfig(level=level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


#: The environment prefix of each settings section, by model name (a ValidationError's
#: title), read from the sections of Settings.
_ENV_PREFIXES = {
    field.annotation.__name__: str(field.annotation.model_config.get("env_prefix", ""))
    for field in Settings.model_fields.values()
    if isinstance(field.annotation, type) and issubclass(field.annotation, BaseSettings)
}


def _problem(error: ErrorDetails, prefix: str) -> str:
    """One problem, named by its environment variable (EMR_STREAMS_PROCESSOR_BATCH_SIZE)."""
    message = error["msg"].removeprefix("Value error, ")
    where = "_".join(str(p) for p in error["loc"]).upper()
    return f"{prefix}{where}: {message}" if where else message


def load_settings(*, kafka: bool = False, postgres: bool = False) -> Settings:
    """Read the settings from the environment; ConfigError names what is wrong.

    With *kafka* / *postgres*, also wait up to ``EMR_STREAMS_COMMAND_TIMEOUT`` seconds for
    the service to answer, then fail with its reason: a command run by a person ends
    within that bound instead of retrying for ever.
    """
    try:
        settings = Settings()
    except pydantic.ValidationError as exc:
        prefix = _ENV_PREFIXES.get(exc.title, "")
        problems = "; ".join(_problem(error, prefix) for error in exc.errors())
        raise ConfigError(f"invalid settings: {problems}") from exc
    clock.set_offset_us(settings.clock.offset_us)
    # A missing setting is named before any service is waited for.
    bootstrap = settings.bootstrap_servers if kafka else None
    url = settings.database_url if postgres else None
    if bootstrap is not None:
        check_kafka(bootstrap, timeout=settings.command.timeout,
                    client_config=settings.librdkafka())
    if url is not None:
        check_postgres(url, timeout=settings.command.timeout)
    return settings


T = TypeVar("T", str, list[str], None)


def topic_option(value: T) -> T:
    """A typer callback for a topic option (one name or a repeated option): a name Kafka
    would refuse is bad usage (exit 2), described by its length rather than echoed (it may
    be a megabyte)."""
    names: list[str] = [value] if isinstance(value, str) else list(value or [])
    for name in names:
        if (problem := kafka_name_problem(name)) is not None:
            raise typer.BadParameter(problem)
    return value


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one line on stderr (newlines in *message* folded) and return the Exit to raise."""
    typer.echo(f"emr-streams: error: {' '.join(message.split())}", err=True)
    return typer.Exit(code)


def emit_json(payload: object) -> None:
    typer.echo(json.dumps(payload, default=str, sort_keys=True))


def describe_error(exc: Exception) -> str:
    """The one line for an error; a driver's error is named by the service it came from
    (its messages name hosts and ports, never passwords)."""
    if isinstance(exc, psycopg.OperationalError):
        return f"PostgreSQL unavailable: {exc}"
    if isinstance(exc, psycopg.Error):
        return f"PostgreSQL refused: {exc}"
    if isinstance(exc, KafkaException):
        return f"Kafka: {kafka_reason(exc)}"
    return str(exc)


def reports_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a StreamsError, or a PostgreSQL or Kafka driver error, into one line on stderr
    and exit code 1 (traceback with -v)."""
    return reports_errors_as(1)(func)


def reports_errors_as(code: int) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Like reports_errors, with exit *code*: for commands whose 1 means something else."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return func(*args, **kwargs)
            except (StreamsError, psycopg.Error, KafkaException) as exc:
                if _state["verbose"]:
                    raise
                raise fail(describe_error(exc), code) from None

        return wrapper

    return decorate
