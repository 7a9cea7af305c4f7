"""The Danish working-day calendar and ISO-week arithmetic (docs/workflows.md, "Week
arithmetic in brief").

Working days are Monday–Friday minus Danish public holidays, as the ``holidays`` package
lists them for country DK (its default ``public`` category: Nytårsdag, Skærtorsdag, Langfredag,
Påskedag, Anden påskedag, Store bededag until 2023, Kristi himmelfartsdag, Pinsedag, Anden
pinsedag, Juledag, Anden juledag).

The package files Grundlovsdag, 24 December, 31 December and 1 May under its ``optional``
category, which is *not* included by default. fbh never uses that category; instead the three
optional days of config.toml (``grundlovsdag``, ``juleaftensdag``, ``nytaarsaftensdag``) are
added by date, and only when configured. 1 May stays a working day.

Everything here is pure: no clock reads, no I/O. Holiday and working-day tables are built
lazily, once per year, and cached on the calendar object (the cache takes no part in equality
or hashing).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import MappingProxyType

from engine.domain.errors import ConfigError
from engine.domain.i18n import _, current, translations

SATURDAY = 5

# Optional days that config.toml may also exclude: config name -> (month, day, Danish name).
OPTIONAL_DAYS: Mapping[str, tuple[int, int, str]] = MappingProxyType(
    {
        "grundlovsdag": (6, 5, "Grundlovsdag"),
        "juleaftensdag": (12, 24, "Juleaftensdag"),
        "nytaarsaftensdag": (12, 31, "Nytårsaftensdag"),
    }
)


def _normalise_optional(name: str) -> str:
    key = name.strip().lower().replace("å", "aa")
    if key not in OPTIONAL_DAYS:
        choices = ", ".join(OPTIONAL_DAYS)
        raise ConfigError(
            _("unknown optional day {name!r}: choose from {choices}").format(
                name=name, choices=choices
            )
        )
    return key


def _public_holidays(year: int) -> dict[date, str]:
    """Danish public holidays of ``year`` with their Danish names. ``holidays`` is imported
    here, when the first year is built, not with this module: ``fbh serve`` reaches ``ready``
    without it (its import is a few MB and tens of ms)."""
    import holidays

    return dict(holidays.country_holidays("DK", years=year, language="da").items())


@dataclass(frozen=True)
class Closure:
    """A closure period that recurs every year: no meetings, and milestone windows stretch
    past it (see :mod:`engine.domain.planning`). ``first`` and ``last`` are (month, day),
    both included; a period such as 24 December – 1 January runs over the new year.

    Reminders and task deadlines still count ordinary working days.
    """

    name: str
    first: tuple[int, int]
    last: tuple[int, int]

    def __post_init__(self) -> None:
        for month, day in (self.first, self.last):
            try:
                date(2001, month, day)  # a year without 29 February: it must exist every year
            except ValueError:
                raise ConfigError(
                    _("closure {name!r}: {day} is not a day of every year").format(
                        name=self.name, day=f"{month:02d}-{day:02d}"
                    )
                ) from None

    def covers(self, d: date) -> bool:
        day = (d.month, d.day)
        if self.first <= self.last:
            return self.first <= day <= self.last
        return day >= self.first or day <= self.last

    def period(self, d: date) -> tuple[date, date]:
        """The dates of the period that covers ``d``."""
        wraps = self.first > self.last
        year = d.year - 1 if wraps and (d.month, d.day) <= self.last else d.year
        return date(year, *self.first), date(year + 1 if wraps else year, *self.last)

    def describe(self, d: date) -> str:
        first, last = self.period(d)
        return f"{self.name} ({first.isoformat()} – {last.isoformat()})"


_PAST_CACHE = 4096  # windows remembered by past_closures
MAX_STRETCH_DAYS = 366  # closures that cover a whole year leave no day to stretch to
CHRISTMAS = Closure("jul og nytår", (12, 24), (1, 1))  # the default of config.toml


@dataclass(frozen=True)
class _Year:
    """One year of the calendar: excluded holidays by name, and the working days."""

    names: Mapping[date, str]
    working: tuple[date, ...]  # sorted
    working_set: frozenset[date]


@dataclass(frozen=True)
class WorkingCalendar:
    """Danish working days: Monday–Friday minus public holidays and configured optional days.

    Build it with :meth:`danish`. Instances are immutable and hashable; equal configuration
    means equal calendars.
    """

    optional: frozenset[str] = frozenset()
    closures: tuple[Closure, ...] = ()
    _years: dict[int, _Year] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )
    _past: dict[tuple[date, ...], tuple[tuple[date, ...], tuple[date, ...]]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    @classmethod
    def danish(
        cls, optional: Iterable[str] = (), closures: Iterable[Closure] = ()
    ) -> WorkingCalendar:
        """The Danish calendar, also excluding the named optional days.

        ``optional`` takes the config.toml names ``grundlovsdag``, ``juleaftensdag`` and
        ``nytaarsaftensdag``; any other name raises :class:`ConfigError`. ``closures`` are
        the periods planning keeps meetings out of.
        """
        return cls(
            optional=frozenset(_normalise_optional(name) for name in optional),
            closures=tuple(closures),
        )

    def closure_on(self, d: date) -> Closure | None:
        """The closure period that covers ``d``, if any."""
        return next((c for c in self.closures if c.covers(d)), None)

    def describe_closure(self, d: date) -> str:
        closure = self.closure_on(d)
        return closure.describe(d) if closure else ""

    def past_closures(self, days: Sequence[date]) -> tuple[list[date], list[date]]:
        """``days`` (working days, in order) without those in a closure period, plus as many
        open working days after the last as the closures took; and the days taken.

        Remembered per ``days``: planning asks again for the same window of every programme
        that starts in the same week."""
        key = tuple(days)
        found = self._past.get(key)
        if found is None:
            if len(self._past) >= _PAST_CACHE:  # a long-lived daemon plans new weeks forever
                self._past.clear()
            opened, closed = self._past_closures(key)
            found = self._past[key] = (tuple(opened), tuple(closed))
        return list(found[0]), list(found[1])

    def _past_closures(self, days: Sequence[date]) -> tuple[list[date], list[date]]:
        opened = [d for d in days if self.closure_on(d) is None]
        closed = [d for d in days if self.closure_on(d) is not None]
        day = days[-1] if days else None
        while day is not None and len(opened) < len(days):
            day = self.add_working_days(day, 1)
            if (day - days[-1]).days > MAX_STRETCH_DAYS:
                raise ConfigError(
                    _("the closure periods leave no open working day after {day}").format(
                        day=days[-1]
                    )
                )
            if self.closure_on(day) is None:
                opened.append(day)
        return opened, closed

    def _year(self, year: int) -> _Year:
        table = self._years.get(year)
        if table is None:
            table = self._build_year(year)
            self._years[year] = table
        return table

    def _build_year(self, year: int) -> _Year:
        names = _public_holidays(year)
        for key in sorted(self.optional):
            month, day, name = OPTIONAL_DAYS[key]
            names.setdefault(date(year, month, day), name)  # a public name wins a clash
        first, last = date(year, 1, 1), date(year, 12, 31)
        days = (first + timedelta(days=i) for i in range((last - first).days + 1))
        working = tuple(d for d in days if d.weekday() < SATURDAY and d not in names)
        return _Year(MappingProxyType(names), working, frozenset(working))

    def holiday_name(self, d: date) -> str | None:
        """The Danish name of the excluded holiday on ``d``, or None (weekends are not named)."""
        return self._year(d.year).names.get(d)

    def is_working_day(self, d: date) -> bool:
        """True for Monday–Friday that is neither a public holiday nor a configured optional day."""
        return d in self._year(d.year).working_set

    def working_days(self, first: date, last: date) -> list[date]:
        """The working days from ``first`` to ``last``, both included, in order."""
        days: list[date] = []
        for year in range(first.year, last.year + 1):
            working = self._year(year).working
            days.extend(working[bisect_left(working, first) : bisect_right(working, last)])
        return days

    def add_working_days(self, d: date, n: int) -> date:
        """The ``n``-th working day after ``d`` (before it when ``n`` is negative).

        ``d`` itself is never counted, so ``add_working_days(monday, -2)`` is the Thursday
        before (if that is a working day). ``n == 0`` returns ``d`` unchanged, working day or not.
        """
        step = timedelta(days=1 if n > 0 else -1)
        remaining = abs(n)
        while remaining:
            d += step
            if self.is_working_day(d):
                remaining -= 1
        return d


def week_monday(start: date, week: int) -> date:
    """The Monday of programme week ``week``: the ISO week containing ``start``, plus ``week``."""
    return start + timedelta(days=7 * week - start.weekday())


def week_friday(start: date, week: int) -> date:
    """The Friday of programme week ``week`` (see :func:`week_monday`)."""
    return week_monday(start, week) + timedelta(days=4)


def iso_week(d: date) -> tuple[int, int]:
    """The ISO year and ISO week number of ``d``, e.g. ``(2027, 10)``."""
    calendar = d.isocalendar()
    return (calendar.year, calendar.week)


@dataclass(frozen=True)
class ClosureMove:
    """How a closure period stretched a milestone's window: ``fbh plan`` tells it in the
    user's language, the contract JSON (``moved``) always in Danish."""

    closure: str  # the period as :meth:`WorkingCalendar.describe_closure` names it
    days: int  # working days it took from the window
    window: tuple[date, date]  # the first and last open working day of the window
    instead: tuple[date, date]  # the window's first and last working day without the closure

    def describe(self, language: str | None = None) -> str:
        """The note in ``language`` (``da``/``en``), or in the user's language."""
        tr = translations(language) if language else current()
        text = tr.ngettext(
            "the closure {closure} took {n} working day: the window is {first} – {last} "
            "instead of {was_first} – {was_last}",
            "the closure {closure} took {n} working days: the window is {first} – {last} "
            "instead of {was_first} – {was_last}",
            self.days,
        )
        return text.format(
            closure=self.closure,
            n=self.days,
            first=self.window[0],
            last=self.window[1],
            was_first=self.instead[0],
            was_last=self.instead[1],
        )
