"""The merged state published on the compacted state topics: a versioned JSON contract.

One JSON object per aggregate (key = aggregate id), validated in the tests against
``schemas/state/<aggregate_type>/v<state_version>.json`` (docs/contracts.md, "State
topics"):

* every timestamp is RFC 3339 in UTC with microseconds and ``Z``
  (``2026-12-03T07:29:01.213284Z``), as Java's ``Instant.parse`` reads it;
* ``hlc`` is the full hybrid logical clock of the newest event merged:
  ``{"physical_us", "logical", "node"}``;
* ids are canonical lower-case UUID strings; enums are their symbols;
* PHI leaves the database sealed or not at all: a PHI value in plain text (opened by the
  sink, or sent unsealed) is published as null unless
  ``EMR_STREAMS_PHI_PUBLISH_PLAINTEXT`` allows it (:func:`without_plaintext_phi`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from streams.phi.envelope import has_token_shape
from streams.sink.aggregates import AggregateSpec
from streams.sink.merge import NEWEST, Row

__all__ = ["STATE_VERSION", "rfc3339", "state_document", "without_plaintext_phi"]

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


def without_plaintext_phi(spec: AggregateSpec, values: dict[str, Any]) -> dict[str, Any]:
    """*values* with each PHI value that is not sealed replaced by None."""
    hidden = [name for name in spec.phi_values
              if values.get(name) is not None and not has_token_shape(values[name])]
    return {**values, **dict.fromkeys(hidden)} if hidden else values


def state_document(spec: AggregateSpec, row: Row, *, plaintext_phi: bool = False
                   ) -> dict[str, Any]:
    """The state of *row* as its state topic publishes it (plain-text PHI as null unless
    *plaintext_phi*)."""
    values = row.values if plaintext_phi else without_plaintext_phi(spec, row.values)
    newest = row.field_clocks.get(NEWEST)
    physical, logical = row.hlc
    node = (newest[2] if newest is not None and tuple(newest[:2]) == row.hlc
            else row.origin_node or "")
    return {"state_version": STATE_VERSION, "aggregate_type": spec.aggregate_type,
            "id": str(row.id), **_json(dict(row.refs)), **_json(values),
            "updated_at": _json(row.updated_at),
            "vector_clock": row.vector_clock.as_dict(),
            "hlc": {"physical_us": physical, "logical": logical, "node": node},
            "origin_node": row.origin_node,
            "last_event_id": str(row.last_event_id) if row.last_event_id else None}
