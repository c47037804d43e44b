"""Times as operators read them: RFC 3339 in UTC with a ``Z``, never epoch numbers."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["utc_iso_ms"]


def utc_iso_ms(epoch_ms: int | None) -> str | None:
    """Epoch milliseconds as ``2026-12-03T15:09:31.123Z`` (None stays None; a number no
    date can hold is shown as it is, never an exception)."""
    if epoch_ms is None:
        return None
    try:
        moment = datetime.fromtimestamp(epoch_ms // 1000, tz=UTC)
    except (OverflowError, ValueError, OSError):
        return f"{epoch_ms} ms since the epoch (out of range)"
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"
