"""The tovholder's time budget: pure arithmetic of status, pace, alerts and bars.

A programme has one budget per *part*: its base workflow (socialt beredskab: 2–3 working days)
and each extension with a budget of its own (TILPASSET: 5–10 hours). Nothing here reads the
clock, the database or the configuration: every function takes what it needs.

* **Status** compares the hours used with the range: ``under`` the minimum, ``within`` it, or
  ``over`` the maximum.
* **Pace** compares the hours used with the share of the part's timeline that has passed:
  by now the tovholder should have used between ``min_hours · share`` and
  ``max_hours · share`` hours, give or take a slack of ``PACE_SLACK`` of the minimum.
* **Alerts** fire at ``ALERT_SHARE`` (80 %) of the maximum, when the maximum is exceeded, and
  at the end of a programme whose hours are under the minimum.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from typing import Any, Literal

Status = Literal["under", "within", "over"]
Pace = Literal["behind", "on track", "ahead"]
AlertLevel = Literal["threshold", "over", "under"]
SegmentKind = Literal["used", "over", "band", "empty"]

ALERT_SHARE = 0.8  # the early warning fires at 80 % of the maximum
PACE_SLACK = 0.2  # pace tolerance, as a share of the minimum hours
_EPSILON = 1e-9


def round_hours(value: float) -> float:
    """Hours to two decimals, so sums of floats compare as people expect (0.1 + 0.2 = 0.3)."""
    return round(value + 0.0, 2)


def budget_status(used: float, minimum: float, maximum: float) -> Status:
    """``under`` the minimum, ``within`` the range (both ends included) or ``over`` it."""
    used = round_hours(used)
    if used < round_hours(minimum):
        return "under"
    if used > round_hours(maximum):
        return "over"
    return "within"


def elapsed_share(first: date, last: date, today: date) -> float:
    """How much of the span ``first``–``last`` has passed on ``today``, from 0.0 to 1.0."""
    if today <= first:
        return 0.0
    if today >= last:
        return 1.0
    return (today - first).days / (last - first).days


def expected_range(minimum: float, maximum: float, share: float) -> tuple[float, float]:
    """The hours a tovholder on pace has used by now: ``(min · share, max · share)``."""
    return (round_hours(minimum * share), round_hours(maximum * share))


def pace(used: float, minimum: float, maximum: float, share: float) -> Pace:
    """``behind``, ``on track`` or ``ahead`` of the share of the timeline that has passed.
    Past the maximum is always ahead: no share of the timeline makes it on track."""
    if round_hours(used) > round_hours(maximum):
        return "ahead"
    low, high = expected_range(minimum, maximum, share)
    slack = minimum * PACE_SLACK
    if used + slack < low - _EPSILON:
        return "behind"
    if used - slack > high + _EPSILON:
        return "ahead"
    return "on track"


def alert_level(used: float, maximum: float) -> AlertLevel | None:
    """The most severe running alert the hours call for: ``over``, ``threshold`` or none.

    The end-of-programme ``under`` alert is decided by :func:`budget_status` at the end.
    """
    used = round_hours(used)
    if used > round_hours(maximum):
        return "over"
    if maximum > 0 and used >= round_hours(maximum * ALERT_SHARE):
        return "threshold"
    return None


def percent_of(used: float, whole: float) -> int:
    """``used`` as a whole percentage of ``whole`` (0 when there is no whole)."""
    return round(100 * used / whole) if whole > 0 else 0


@dataclass(frozen=True)
class BudgetPart:
    """One workflow of a programme whose tovholder hours are tracked against a range."""

    key: str  # the workflow key: what ``fbh time log --part`` takes
    title: str
    min_hours: float
    max_hours: float
    first_day: date  # the part's timeline, for the pace
    last_day: date
    text: str  # the range in Danish: "2–3 arbejdsdage (14,8–22,2 timer)"
    is_extension: bool = False


@dataclass(frozen=True)
class PartStatus:
    """The hours used on one part on a given day, with everything derived from them."""

    part: BudgetPart
    used_hours: float
    today: date

    @property
    def status(self) -> Status:
        return budget_status(self.used_hours, self.part.min_hours, self.part.max_hours)

    @property
    def elapsed_share(self) -> float:
        return elapsed_share(self.part.first_day, self.part.last_day, self.today)

    @property
    def expected_hours(self) -> float:
        """By now, at least this many hours (the minimum times the share passed)."""
        return expected_range(self.part.min_hours, self.part.max_hours, self.elapsed_share)[0]

    @property
    def pace(self) -> Pace:
        return pace(self.used_hours, self.part.min_hours, self.part.max_hours, self.elapsed_share)

    @property
    def percent_of_max(self) -> int:
        return percent_of(self.used_hours, self.part.max_hours)

    @property
    def remaining_hours(self) -> float:
        """Hours left before the maximum (negative when it is exceeded)."""
        return round_hours(self.part.max_hours - self.used_hours)

    def to_json(self) -> dict[str, Any]:
        return {
            "part": self.part.key,
            "title": self.part.title,
            "min_hours": self.part.min_hours,
            "max_hours": self.part.max_hours,
            "used_hours": round_hours(self.used_hours),
            "remaining_hours": self.remaining_hours,
            "percent_of_max": self.percent_of_max,
            "status": self.status,
            "first_day": self.part.first_day.isoformat(),
            "last_day": self.part.last_day.isoformat(),
            "elapsed_share": round(self.elapsed_share, 3),
            "expected_hours": self.expected_hours,
            "pace": self.pace,
        }


@dataclass(frozen=True)
class Segment:
    """One stretch of an hours bar: ``width`` whole percent of the bar, drawn as ``kind``.

    ``used`` is hours spent within the maximum, ``over`` hours beyond it, ``band`` the part of
    the budget range not yet used, ``empty`` the part below the minimum not yet used.
    """

    kind: SegmentKind
    width: int


def bar_segments(used: float, minimum: float, maximum: float) -> tuple[Segment, ...]:
    """The hours bar as segments whose widths add up to exactly 100.

    The scale runs from 0 to the maximum, or to the hours used when they exceed it.
    """
    used = max(round_hours(used), 0.0)
    scale = max(maximum, used)
    if scale <= 0:
        return (Segment("empty", 100),)
    points = sorted({0.0, min(used, scale), min(minimum, scale), min(maximum, scale), scale})
    pieces: list[tuple[SegmentKind, float]] = []
    for low, high in pairwise(points):
        kind = _segment_kind(low, used, minimum, maximum)
        if pieces and pieces[-1][0] == kind:
            pieces[-1] = (kind, pieces[-1][1] + high - low)
        else:
            pieces.append((kind, high - low))
    widths = _whole_percents([length / scale for _, length in pieces])
    return tuple(Segment(kind, w) for (kind, _), w in zip(pieces, widths, strict=True) if w > 0)


def _segment_kind(at: float, used: float, minimum: float, maximum: float) -> SegmentKind:
    if at < used:
        return "over" if at >= maximum else "used"
    return "band" if at >= minimum else "empty"


def _whole_percents(shares: list[float]) -> list[int]:
    """Shares of 1.0 as whole percents that add up to 100 (largest remainder first)."""
    raw = [share * 100 for share in shares]
    whole = [int(value) for value in raw]
    order = sorted(range(len(raw)), key=lambda i: raw[i] - whole[i], reverse=True)
    for i in order[: 100 - sum(whole)]:
        whole[i] += 1
    return whole


_BAR_CHARS: dict[SegmentKind, str] = {"used": "#", "over": "!", "band": ":", "empty": "."}


def text_bar(used: float, minimum: float, maximum: float, width: int = 24) -> str:
    """The bar in plain text, e.g. ``[#########.......::::::::]`` (``:`` is the budget range)."""
    cells: list[str] = []
    for segment in bar_segments(used, minimum, maximum):
        cells += _BAR_CHARS[segment.kind] * round(segment.width * width / 100)
    cells = (cells + [cells[-1]] * width)[:width] if cells else ["."] * width
    return "[" + "".join(cells) + "]"
