"""Is the database there? A bounded check for commands run by a person."""

from __future__ import annotations

import psycopg
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from streams.db.errors import DatabaseUnavailableError

__all__ = ["check_reachable"]


def check_reachable(url: str, *, timeout: float) -> None:
    """Connect once, retrying for up to *timeout* seconds (a server that is restarting);
    then DatabaseUnavailableError with the driver's reason (host and port, never the
    password)."""
    try:
        for attempt in Retrying(retry=retry_if_exception_type(psycopg.OperationalError),
                                stop=stop_after_delay(timeout),
                                wait=wait_exponential(multiplier=0.5, max=5), reraise=True):
            with attempt, psycopg.connect(url, connect_timeout=max(2, int(timeout))):
                return
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split())
        raise DatabaseUnavailableError(
            f"cannot connect to PostgreSQL within {timeout:g} s "
            f"(EMR_STREAMS_COMMAND_TIMEOUT): {reason}") from exc
