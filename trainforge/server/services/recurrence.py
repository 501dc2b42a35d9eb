"""The moments a ``ScheduleRecurrence`` fires at: a pure function of the recurrence, the
moment its slots count from (its ``start_time``, else the schedule's creation) and a
moment to look after.

- Minute / Hour (no ``minutes``): every ``interval`` minutes / hours from the anchor.
- Hour with ``minutes``: at those minutes of every ``interval``-th hour from the anchor's.
- Day: on every ``interval``-th day from the anchor's, at each ``hours`` x ``minutes``
  (or ``time_of_day``; the anchor's time of day when none is given), in ``time_zone``.
- Week: in every ``interval``-th week (Monday to Sunday) from the anchor's, on each of
  ``week_days`` (the anchor's weekday when none), at the times as for Day.
- Month: every ``interval`` months from the anchor, on its day of the month (the month's
  last day where it has fewer) at its time.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta

from trainforge.schemas.schedules import WEEK_DAYS, Recurrence, zone

# A slot is found within a few periods of the moment looked after; this bounds the search.
PERIODS_LOOKED_AT = 3


def _times(rec: Recurrence, anchor: datetime) -> list[time]:
    """The times of day a Day or Week recurrence fires at (in its zone)."""
    if rec.time_of_day is not None:
        hour, minute = rec.time_of_day.split(":")
        return [time(int(hour), int(minute))]
    if not rec.hours and not rec.minutes:
        # The anchor's own moment: a schedule without start_time runs at once.
        return [anchor.time()]
    hours = rec.hours or [anchor.hour]
    minutes = rec.minutes or [anchor.minute]
    return sorted(time(h, m) for h in hours for m in minutes)


def _first(candidates: list[datetime], anchor: datetime, after: datetime) -> datetime | None:
    found = [c for c in candidates if c > after and c >= anchor]
    return min(found) if found else None


def next_slot(rec: Recurrence, anchor: datetime, after: datetime) -> datetime:
    """The first slot of ``rec`` that is later than ``after`` and not before ``anchor``."""
    anchor, after = anchor.astimezone(UTC), after.astimezone(UTC)
    n = rec.interval
    if rec.frequency == "Minute" or (rec.frequency == "Hour" and not rec.minutes):
        period = timedelta(minutes=n) if rec.frequency == "Minute" else timedelta(hours=n)
        if after < anchor:
            return anchor
        return anchor + ((after - anchor) // period + 1) * period
    tz = zone(rec.time_zone)
    local_anchor, local_after = anchor.astimezone(tz), after.astimezone(tz)
    if rec.frequency == "Hour":
        first_hour = anchor.replace(minute=0, second=0, microsecond=0)
        k0 = max(0, int((after - first_hour) // timedelta(hours=n)))
        for k in range(k0, k0 + PERIODS_LOOKED_AT):
            hour = first_hour + timedelta(hours=k * n)
            found = _first([hour + timedelta(minutes=m) for m in rec.minutes or []], anchor, after)
            if found is not None:
                return found
    elif rec.frequency in ("Day", "Week"):
        times = _times(rec, local_anchor)
        if rec.frequency == "Day":
            base, span, days = local_anchor.date(), n, [0]
        else:
            base = local_anchor.date() - timedelta(days=local_anchor.weekday())
            span = 7 * n
            names = rec.week_days or [WEEK_DAYS[local_anchor.weekday()]]
            days = sorted(WEEK_DAYS.index(d) for d in names)
        k0 = max(0, (local_after.date() - base).days // span)
        for k in range(k0, k0 + PERIODS_LOOKED_AT):
            start = base + timedelta(days=k * span)
            candidates = [
                datetime.combine(start + timedelta(days=d), at, tz).astimezone(UTC)
                for d in days
                for at in times
            ]
            found = _first(candidates, anchor, after)
            if found is not None:
                return found
    else:  # Month
        months = (
            (local_after.year - local_anchor.year) * 12 + local_after.month - local_anchor.month
        )
        k0 = max(0, months // n)
        for k in range(k0, k0 + PERIODS_LOOKED_AT):
            total = local_anchor.month - 1 + k * n
            year, month = local_anchor.year + total // 12, total % 12 + 1
            day = min(local_anchor.day, calendar.monthrange(year, month)[1])
            candidate = datetime.combine(date(year, month, day), local_anchor.timetz())
            found = _first([candidate.astimezone(UTC)], anchor, after)
            if found is not None:
                return found
    raise AssertionError(
        f"no slot of {rec!r} within {PERIODS_LOOKED_AT} periods"
    )  # pragma: no cover


def latest_due(
    rec: Recurrence, anchor: datetime, due: datetime, now: datetime, limit: int = 1_000_000
) -> tuple[datetime, int, datetime]:
    """With slot ``due`` reached at ``now``: the latest slot not after ``now`` (the one to
    fire), how many earlier slots were passed over (not backfilled) and the next slot."""
    slot, skipped = due, 0
    following = next_slot(rec, anchor, slot)
    while following <= now and skipped < limit:
        slot, skipped = following, skipped + 1
        following = next_slot(rec, anchor, slot)
    return slot, skipped, following
