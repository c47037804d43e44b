"""One failure model: every error is decided here, once, by its type and SQLSTATE.

Three scopes, three behaviours (docs/failures.md):

* ``TRANSIENT`` — infrastructure that will come back (connection lost, serialization
  failure, deadlock, server shutting down, out of resources, broker unreachable): retry
  with backoff for as long as it lasts; never dead-letter; readiness reports it.
* ``RECORD`` — this record: anything raised while decoding, validating, opening, merging
  or applying one record. The batch is split until the record that fails on its own is
  found; that record is dead-lettered with its reason and the stream goes on.
* ``PROCESS`` — this process is wrong (privileges, schema not migrated, a broken setting,
  interrupt, memory): stop loudly; dead-lettering would only flood the DLQ with good data.

The default is ``RECORD``: an error nobody foresaw is contained to the record that raised
it, and the poison-rate breaker (``streams.sink.breaker``) catches the case where it is a
defect that every record hits.
"""

from __future__ import annotations

from enum import StrEnum

import psycopg
from psycopg_pool import PoolTimeout

from streams.errors import ConfigError, RetriableError, StreamsError

__all__ = ["Scope", "classify", "describe"]


class Scope(StrEnum):
    """Whose fault a failure is, hence what to do about it."""

    TRANSIENT = "transient"
    RECORD = "record"
    PROCESS = "process"


#: SQLSTATE classes and codes of transient infrastructure (PostgreSQL Appendix A).
_TRANSIENT_CLASSES = frozenset({"08", "40", "53", "58"})
_TRANSIENT_CODES = frozenset({
    "57P01",  # admin_shutdown
    "57P02",  # crash_shutdown
    "57P03",  # cannot_connect_now
    "57P05",  # idle_session_timeout
    "55P03",  # lock_not_available
    "55006",  # object_in_use
    "25P03",  # idle_in_transaction_session_timeout
    "HV000",  # fdw_error (a remote that is away)
})
#: SQLSTATEs that say the database or the setup is wrong for every record: feature not
#: supported, no such database or schema, syntax or access rule (privileges, undefined
#: table, column or function: not migrated), authorization, configuration file.
_PROCESS_CLASSES = frozenset({"0A", "3D", "3F", "42", "28", "F0"})
_PROCESS_CODES = frozenset({
    "57P04",  # database_dropped
    "25006",  # read_only_sql_transaction (a standby, or default_transaction_read_only)
})


def _sqlstate_scope(exc: psycopg.Error) -> Scope:
    state = exc.sqlstate
    if state is None:
        # Raised by the client library, not the server.
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            return Scope.TRANSIENT  # connection failed, lost, closed
        if isinstance(exc, psycopg.ProgrammingError | psycopg.NotSupportedError):
            return Scope.PROCESS  # our statement is wrong
        return Scope.RECORD  # e.g. a value the client cannot adapt (NUL in text)
    if state in _TRANSIENT_CODES or state[:2] in _TRANSIENT_CLASSES:
        return Scope.TRANSIENT
    if state in _PROCESS_CODES or state[:2] in _PROCESS_CLASSES:
        return Scope.PROCESS
    # 22 data, 23 integrity (a missing partition too), 54 limits, 57014 statement
    # timeout (the record that is slow alone is found by splitting), P0001 a trigger, XX.
    return Scope.RECORD


def classify(exc: BaseException) -> Scope:
    """The scope of *exc*: what the processor must do about it."""
    if not isinstance(exc, Exception) or isinstance(exc, MemoryError | RecursionError):
        return Scope.PROCESS  # KeyboardInterrupt, SystemExit, out of memory
    if isinstance(exc, ConfigError):
        return Scope.PROCESS
    if isinstance(exc, RetriableError):
        return Scope.TRANSIENT
    if isinstance(exc, StreamsError):
        return Scope.RECORD  # decode, bounds, contract, PHI: the record's content
    if isinstance(exc, psycopg.Error):
        return _sqlstate_scope(exc)
    if isinstance(exc, PoolTimeout | ConnectionError | TimeoutError):
        return Scope.TRANSIENT
    return Scope.RECORD


def describe(exc: BaseException) -> str:
    """A reason for a dead letter or a log line that never quotes a value (values are PHI).

    The project's own errors are written to be safe and are quoted; a database error gives
    its primary message, constraint and SQLSTATE (never DETAIL, which quotes the row); any
    other error gives its type only.
    """
    if isinstance(exc, psycopg.Error):
        primary = exc.diag.message_primary or type(exc).__name__
        constraint = f" [{exc.diag.constraint_name}]" if exc.diag.constraint_name else ""
        state = f" (SQLSTATE {exc.sqlstate})" if exc.sqlstate else ""
        return f"{primary}{constraint}{state}"
    if isinstance(exc, StreamsError):
        return str(exc) or type(exc).__name__
    return f"unexpected {type(exc).__name__} (message withheld: it may quote the record)"
