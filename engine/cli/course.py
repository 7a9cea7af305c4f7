"""CLI: ``fbh course`` (the BASIS course calendar: add, list, show, register, import,
unregister, cancel, publish)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from engine.cli.common import (
    JsonOption,
    checked_path,
    emit_json,
    parse_contact,
    parse_date,
    parse_datetime,
    parse_id,
    say,
    state,
)
from engine.cli.formatting import state_label
from engine.cli.i18n import _
from engine.domain import clock
from engine.domain.courses import CourseView, city_of, parse_csv, registrant
from engine.domain.errors import InvalidInputError
from engine.domain.model import MAX_NAME, check_text
from engine.services.courses import NewCourse

course_app = typer.Typer(help="The BASIS course calendar.", no_args_is_help=True)

IdArgument = Annotated[str, typer.Argument(metavar="ID", help="Course id.")]


def _id(text: str) -> int:
    return parse_id(text, "course id")


@course_app.command("add")
def course_add(
    ctx: typer.Context,
    city: Annotated[str, typer.Option("--city", help="København or Aarhus.")],
    venue: Annotated[str, typer.Option("--venue", help="Where the course is held.")],
    start: Annotated[
        str, typer.Option("--start", help="Local date and time, e.g. 2027-03-09T09:00.")
    ],
    end: Annotated[str, typer.Option("--end", help="Local date and time.")],
    capacity: Annotated[int, typer.Option("--capacity", help="Seats.")],
    minimum: Annotated[
        int | None, typer.Option("--minimum", help="Fewest participants to hold it.")
    ] = None,
    decide_by: Annotated[
        str | None, typer.Option("--decide-by", help="Date to decide by, YYYY-MM-DD.")
    ] = None,
    venue_email: Annotated[
        str | None,
        typer.Option("--venue-email", help='The venue\'s "Name <email>" for the roster.'),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Plan a course date."""
    settings = state(ctx).settings
    new = NewCourse(
        city=city_of(city, "--city"),
        venue=check_text(venue, "--venue", MAX_NAME),
        start=parse_datetime(start, "--start", settings),
        end=parse_datetime(end, "--end", settings),
        capacity=capacity,
        minimum=minimum,
        decide_by=parse_date(decide_by, "--decide-by") if decide_by is not None else None,
        venue_email=parse_contact(venue_email, "--venue-email") if venue_email else None,
    )
    view = state(ctx).fbh.courses.add(new, clock.utcnow())
    if as_json:
        emit_json(view.to_json(settings.tz))
        return
    say(_("course {id} planned").format(id=view.id))
    _show(ctx, view)


@course_app.command("list")
def course_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the courses."""
    settings = state(ctx).settings
    views = state(ctx).fbh.courses.find(clock.utcnow())
    if as_json:
        emit_json([v.to_json(settings.tz) for v in views])
        return
    if not views:
        say(_("no courses"))
    for v in views:
        start = v.start.astimezone(settings.tz)
        say(
            f"#{v.id:<4} {start:%Y-%m-%d %H:%M}  {v.city:<10} {state_label(v.state):<10} "
            f"{len(v.registered)}/{v.capacity} "
            + _("waiting {n}").format(n=len(v.waitlist))
            + f"  {v.venue}"
        )


@course_app.command("show")
def course_show(ctx: typer.Context, course_id: IdArgument, as_json: JsonOption = False) -> None:
    """Show a course, who is registered and who is waiting."""
    view = state(ctx).fbh.courses.show(_id(course_id), clock.utcnow())
    if as_json:
        emit_json(view.to_json(state(ctx).settings.tz))
        return
    _show(ctx, view)


def _show(ctx: typer.Context, view: CourseView) -> None:
    tz = state(ctx).settings.tz
    start, end = view.start.astimezone(tz), view.end.astimezone(tz)
    say(f"#{view.id} {view.city}, {view.venue}: {start:%Y-%m-%d %H:%M}–{end:%H:%M}")
    say(
        _("state {state}; {registered} of {capacity} seats taken; {waiting} waiting").format(
            state=state_label(view.state),
            registered=len(view.registered),
            capacity=view.capacity,
            waiting=len(view.waitlist),
        )
    )
    if view.minimum is not None:
        say(
            _("minimum {minimum}, decide by {day}").format(minimum=view.minimum, day=view.decide_by)
        )
    for number, person in enumerate(view.registered, start=1):
        say(f"  {number:>3}. {person.name} <{person.email}>, {person.organisation}")
    for number, person in enumerate(view.waitlist, start=1):
        label = _("waiting {n}").format(n=number)
        say(f"  {label}: {person.name} <{person.email}>, {person.organisation}")


@course_app.command("register")
def course_register(
    ctx: typer.Context,
    course_id: IdArgument,
    name: Annotated[str, typer.Option("--name", help="The participant's name.")],
    email: Annotated[str, typer.Option("--email", help="The participant's e-mail address.")],
    org: Annotated[str, typer.Option("--org", help="The participant's organisation.")],
    as_json: JsonOption = False,
) -> None:
    """Register a participant; beyond the capacity they go on the waiting list."""
    person = registrant(name, email, org)
    ident = _id(course_id)
    result = state(ctx).fbh.courses.register(ident, person, clock.utcnow())
    if as_json:
        emit_json({"id": ident, "email": person.email, "state": result})
        return
    message = (
        _("{email}: registered for course {id}; the confirmation is queued")
        if result == "registered"
        else _("{email}: the course {id} is full; on the waiting list")
    )
    say(message.format(email=person.email, id=ident))


@course_app.command("import")
def course_import(
    ctx: typer.Context,
    course_id: IdArgument,
    file: Annotated[Path, typer.Argument(metavar="FILE", help="CSV: navn;email;organisation.")],
    as_json: JsonOption = False,
) -> None:
    """Register everyone in a CSV file (Danish Excel: ';', UTF-8); a bad row imports nothing."""
    try:
        data = checked_path(file, "FILE").read_bytes()
    except OSError as exc:
        raise InvalidInputError(
            _("cannot read {file}: {why}").format(file=file, why=exc.strerror or exc)
        ) from None
    people = parse_csv(data, str(file))
    ident = _id(course_id)
    results = state(ctx).fbh.courses.register_many(ident, people, clock.utcnow())
    if as_json:
        emit_json(
            {
                "id": ident,
                "registrations": [
                    {"email": p.email, "state": s} for p, s in zip(people, results, strict=True)
                ],
            }
        )
        return
    say(
        _("course {id}: {registered} registered, {waiting} on the waiting list").format(
            id=ident,
            registered=results.count("registered"),
            waiting=results.count("waitlisted"),
        )
    )


@course_app.command("unregister")
def course_unregister(
    ctx: typer.Context,
    course_id: IdArgument,
    email: Annotated[str, typer.Argument(metavar="EMAIL", help="The participant's address.")],
) -> None:
    """Free a seat; the first on the waiting list moves up and gets the invite."""
    address = parse_contact(email, "EMAIL").email
    promoted = state(ctx).fbh.courses.unregister(_id(course_id), address, clock.utcnow())
    say(_("{email} unregistered").format(email=address))
    if promoted is not None:
        say(
            _("{email} moved up from the waiting list; the invite is queued").format(
                email=promoted.email
            )
        )


@course_app.command("cancel")
def course_cancel(ctx: typer.Context, course_id: IdArgument) -> None:
    """Cancel a course; everyone registered gets a CANCEL."""
    view = state(ctx).fbh.courses.cancel(_id(course_id), clock.utcnow())
    say(
        _("course {id} cancelled; {n} cancellations queued").format(
            id=view.id, n=len(view.registered) + len(view.waitlist)
        )
    )


@course_app.command("publish")
def course_publish(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Folder to write index.html and kurser.ics.")],
) -> None:
    """Write the public course calendar: an HTML page and an ICS file."""
    html, ics = state(ctx).fbh.courses.publish(checked_path(out, "--out"), clock.utcnow())
    say(_("wrote {html} and {ics}").format(html=html, ics=ics))
