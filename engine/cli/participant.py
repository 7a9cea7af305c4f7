"""CLI: the participants of a programme's workshop and course days (``fbh participant``)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Annotated

import typer

from engine.cli.common import JsonOption, checked_path, emit_json, parse_id, say, state
from engine.cli.i18n import _, ngettext
from engine.domain import clock
from engine.domain.errors import InvalidInputError
from engine.services.participants import NewParticipant, ParticipantView

participant_app = typer.Typer(
    help="Participants of the workshop and the course days.", no_args_is_help=True
)

IdArgument = Annotated[str, typer.Argument(metavar="ID", help="Programme id.")]
EmailArgument = Annotated[str, typer.Argument(metavar="EMAIL", help="The participant's address.")]
PartOption = Annotated[
    str | None,
    typer.Option(
        "--part",
        help="The part the participants belong to, e.g. tilpasset (the course days); "
        "default the base (the workshop).",
    ),
]


def _line(view: ParticipantView) -> str:
    answers = ", ".join(f"{key}: {value}" for key, value in view.answers.items())
    return f"{view.name} <{view.email}>  {view.org}  {view.kind_label}  {view.role}  {answers}"


@participant_app.command("add")
def participant_add(
    ctx: typer.Context,
    programme_id: IdArgument,
    name: Annotated[str, typer.Option("--name", help="Full name.")],
    email: Annotated[str, typer.Option("--email", help="E-mail address.")],
    org: Annotated[str, typer.Option("--org", help="The participant's organisation.")],
    kind: Annotated[str, typer.Option("--kind", help="A kind from the workflow definition.")],
    role: Annotated[str, typer.Option("--role", help="employee or leader.")] = "employee",
    part: PartOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a participant; they get the invite to the part's coming meetings."""
    view = state(ctx).fbh.participants.add(
        parse_id(programme_id),
        NewParticipant(name=name, email=email, organisation=org, kind=kind, role=role),
        clock.utcnow(),
        part=part,
    )
    if as_json:
        emit_json(view.to_json())
        return
    say(_("added {who}").format(who=f"{view.name} <{view.email}>"))


@participant_app.command("list")
def participant_list(
    ctx: typer.Context,
    programme_id: IdArgument,
    part: PartOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the participants and their answers per meeting."""
    views = state(ctx).reader.participants.list_participants(parse_id(programme_id), part)
    if as_json:
        emit_json([v.to_json() for v in views])
        return
    if not views:
        say(_("no participants"))
    for view in views:
        say(_line(view))


@participant_app.command("remove")
def participant_remove(
    ctx: typer.Context, programme_id: IdArgument, email: EmailArgument, part: PartOption = None
) -> None:
    """Remove a participant; their coming meetings are cancelled for them."""
    state(ctx).fbh.participants.remove(parse_id(programme_id), email, clock.utcnow(), part)
    say(_("removed {email}").format(email=email.strip().lower()))


@participant_app.command("answer")
def participant_answer(
    ctx: typer.Context,
    programme_id: IdArgument,
    email: EmailArgument,
    meeting: Annotated[str, typer.Option("--meeting", help="The meeting's key, e.g. workshop.")],
    answer: Annotated[str, typer.Option("--answer", help="accepted, declined or tentative.")],
    as_json: JsonOption = False,
) -> None:
    """Record an answer by hand (as if the invite had been answered by mail)."""
    view = state(ctx).fbh.participants.answer(
        parse_id(programme_id), email, meeting, answer, clock.utcnow()
    )
    if as_json:
        emit_json(view.to_json() if view else {"email": email.strip().lower()})
        return
    say(
        _("{email}: {answer} recorded for {meeting}").format(
            email=email.strip().lower(), answer=answer.strip().lower(), meeting=meeting
        )
    )


@participant_app.command("import")
def participant_import(
    ctx: typer.Context,
    programme_id: IdArgument,
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="CSV: navn;email;organisation;type;rolle.")
    ],
    part: PartOption = None,
) -> None:
    """Import participants from a CSV file (Excel's 'CSV UTF-8'); a bad row imports nothing."""
    try:
        data = checked_path(file, "FILE").read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"{file}: {exc.strerror or exc}") from None
    try:
        added, updated = state(ctx).fbh.participants.import_csv(
            parse_id(programme_id), data, clock.utcnow(), part
        )
    except InvalidInputError as exc:
        raise InvalidInputError(f"{file}: {exc}") from None
    text = ngettext(
        "{added} participant added, {updated} updated",
        "{added} participants added, {updated} updated",
        added,
    )
    say(text.format(added=added, updated=updated))


@participant_app.command("export")
def participant_export(
    ctx: typer.Context,
    programme_id: IdArgument,
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The CSV file to write.")],
    part: PartOption = None,
) -> None:
    """Export the participants as a CSV file Excel opens (UTF-8 with BOM, ';')."""
    data = state(ctx).reader.participants.export_csv(parse_id(programme_id), part)
    _write_atomically(file, data)
    say(_("written to {file}").format(file=file))


@participant_app.command("headcount")
def participant_headcount(
    ctx: typer.Context, programme_id: IdArgument, as_json: JsonOption = False
) -> None:
    """Who is coming to each meeting with participants, and the count for lunch."""
    counts = state(ctx).reader.participants.headcounts(parse_id(programme_id))
    if as_json:
        emit_json([c.to_json() for c in counts])
        return
    for item in counts:
        c = item.counts
        say(
            _(
                "{title}: {accepted} accepted, {tentative} tentative, {unanswered} not answered, "
                "{declined} declined; lunch for {lunch}"
            ).format(
                title=item.title,
                accepted=c.accepted,
                tentative=c.tentative,
                unanswered=c.unanswered,
                declined=c.declined,
                lunch=c.lunch,
            )
        )


@participant_app.command("forget")
def participant_forget(
    ctx: typer.Context, email: EmailArgument, as_json: JsonOption = False
) -> None:
    """Erase a person everywhere (GDPR article 17); the audit log keeps a pseudonym."""
    found = state(ctx).fbh.participants.forget(email, clock.utcnow())
    if as_json:
        emit_json({"email": email.strip().lower(), "rows": found})
        return
    total = sum(found.values())
    text = ngettext("{count} row erased or rewritten", "{count} rows erased or rewritten", total)
    say(text.format(count=total))


def _write_atomically(out: Path, data: bytes) -> None:
    if not out.parent.is_dir():
        raise InvalidInputError(
            _("{out}: folder {folder} does not exist").format(out=out, folder=out.parent)
        )
    if out.is_dir():
        raise InvalidInputError(_("{out}: is a folder").format(out=out))
    partial = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        partial.write_bytes(data)
        os.replace(partial, out)
    except OSError as exc:
        raise InvalidInputError(f"{out}: {exc.strerror or exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
