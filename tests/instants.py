"""Calendar arithmetic for tests, and the instants date-sensitive tests pin."""

from __future__ import annotations

from datetime import UTC, date, datetime

#: Instants where date logic breaks if it is done with fixed-length days: the last day of
#: a 30-day month just before midnight, the last seconds of a year, a leap day, and the
#: first seconds of a month that follows a short one.
INSTANTS = (
    datetime(2027, 4, 30, 23, 58, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 59, 20, tzinfo=UTC),
    datetime(2028, 2, 29, 12, 0, tzinfo=UTC),
    datetime(2027, 3, 1, 0, 0, 20, tzinfo=UTC),
)


def month_start(moment: datetime | date) -> date:
    """The first day of the UTC month of *moment*."""
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC).date()
    return moment.replace(day=1)


def add_months(first: date, months: int) -> date:
    """The first day of the month *months* after (or before) the month of *first*."""
    index = first.year * 12 + (first.month - 1) + months
    return date(index // 12, index % 12 + 1, 1)
