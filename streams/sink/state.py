"""The merged state published on the compacted state topics: a versioned JSON contract.

One JSON object per aggregate (key = aggregate id), validated in the tests against
``schemas/state/<aggregate_type>/v<state_version>.json`` (docs/contracts.md, "State
topics"):

* every timestamp is RFC 3339 in UTC with microseconds and ``Z``
  (``2026-12-03T07:29:01.213284Z``), as Java's ``Instant.parse`` reads it;
* ``hlc`` is the full hybrid logical clock of the newest event merged:
  ``{"physical_us", "logical", "node"}``;
* ids are canonical lower-case UUID strings; enums are their symbols.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from streams.sink.aggregates import AggregateSpec
from streams.sink.merge import NEWEST, Row

__all__ = ["STATE_VERSION", "rfc3339", "state_document"]

#: The version of the state documents this code publishes (``state_version``).
STATE_VERSION = 1


def rfc3339(value: datetime) -> str:
    """*value* as RFC 3339 in UTC, microseconds, ``Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value


def state_document(spec: AggregateSpec, row: Row) -> dict[str, Any]:
    """The state of *row* as its state topic publishes it."""
    newest = row.field_clocks.get(NEWEST)
    physical, logical = row.hlc
    node = (newest[2] if newest is not None and tuple(newest[:2]) == row.hlc
            else row.origin_node or "")
    return {"state_version": STATE_VERSION, "aggregate_type": spec.aggregate_type,
            "id": str(row.id), **_json(dict(row.refs)), **_json(row.values),
            "updated_at": _json(row.updated_at),
            "vector_clock": row.vector_clock.as_dict(),
            "hlc": {"physical_us": physical, "logical": logical, "node": node},
            "origin_node": row.origin_node,
            "last_event_id": str(row.last_event_id) if row.last_event_id else None}
