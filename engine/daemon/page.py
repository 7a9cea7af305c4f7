"""The tovholder's private page on the daemon's HTTP server (``engine.daemon.http``).

* ``GET /p/{token}``: the page (``?ret=ID`` opens an entry's edit form);
* ``POST /p/{token}``: log hours (inputs ``date``, ``hours``, ``note``, ``part``, ``csrf``);
* ``POST /p/{token}/timer/{id}``: change an entry; ``POST /p/{token}/timer/{id}/slet``: delete;
* ``GET /p/{token}/moeder/{id}.ics``: one meeting's calendar file;
* ``GET /static/page.css``: the stylesheet (the only asset; nothing from third parties).

A malformed, unknown or revoked token gets the same 404 as an unknown path. Every POST needs
the page's CSRF token (else 403); a successful one redirects (303) back to the page. Each
token may make ``[http] page_requests_per_minute`` requests a minute (else 429). Responses
carry a strict Content-Security-Policy, ``Referrer-Policy: no-referrer`` (from the server's
common headers) and ``Cache-Control: no-store``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any, NoReturn

from aiohttp import BodyPartReader, web

from engine.domain.errors import FbhError, FieldError, InvalidInputError, NotFoundError
from engine.services.facade import Fbh
from engine.services.pages import CsrfKeys, PageAccess, page_path, resolve
from engine.services.tovholder_page import HoursForm, TovholderPage, parse_entry_id
from engine.services.tovholder_participants import CSV_LIMIT, PageParticipants, PersonForm
from notifications.page import render_page, stylesheet

log = logging.getLogger(__name__)

TOKEN = "{token:[A-Za-z0-9_-]{43}}"
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
MESSAGES = {
    "gemt": "Timerne er gemt.",
    "rettet": "Registreringen er rettet.",
    "slettet": "Registreringen er slettet.",
    "tilfoejet": "Deltageren er tilføjet, og invitationen er på vej.",
    "indlaest": "Listen er indlæst.",
}
MAX_PARTS = 8  # fields of a CSV upload form
WINDOW_SECONDS = 60.0
MAX_TRACKED = 10_000  # rate-limit windows kept in memory; the oldest go first


class RateLimit:
    """A fixed one-minute window of requests per key (a token's hash)."""

    def __init__(self, per_minute: int, clock: Callable[[], datetime]) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.windows: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def allow(self, key: str) -> float | None:
        """None when the request may go on, else the seconds until it may."""
        now = self.clock().timestamp()
        start, count = self.windows.get(key, (now, 0))
        if now - start >= WINDOW_SECONDS:
            start, count = now, 0
        if count >= self.per_minute:
            return WINDOW_SECONDS - (now - start)
        self.windows[key] = (start, count + 1)
        self.windows.move_to_end(key)
        while len(self.windows) > MAX_TRACKED:
            self.windows.popitem(last=False)
        return None


class PageEndpoints:
    def __init__(self, fbh: Fbh, clock: Callable[[], datetime]) -> None:
        self.fbh = fbh
        self.clock = clock
        self.page = TovholderPage(fbh)
        self.participants = PageParticipants(fbh)
        self.csrf = CsrfKeys(fbh.store)
        self.limit = RateLimit(fbh.settings.http.page_requests_per_minute, clock)

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/static/page.css", self.css)
        app.router.add_get(f"/p/{TOKEN}", self.show)
        app.router.add_post(f"/p/{TOKEN}", self.log_hours)
        app.router.add_post(f"/p/{TOKEN}/timer/{{entry:[0-9]{{1,12}}}}", self.edit_hours)
        app.router.add_post(f"/p/{TOKEN}/timer/{{entry:[0-9]{{1,12}}}}/slet", self.delete_hours)
        app.router.add_get(f"/p/{TOKEN}/moeder/{{meeting:[0-9]{{1,12}}}}.ics", self.meeting)
        app.router.add_post(f"/p/{TOKEN}/deltagere", self.add_participant)
        app.router.add_post(f"/p/{TOKEN}/deltagere/csv", self.upload_participants)
        app.router.add_get(f"/p/{TOKEN}/deltagere.csv", self.download_participants)

    async def css(self, request: web.Request) -> web.Response:
        return web.Response(
            body=stylesheet(),
            content_type="text/css",
            charset="utf-8",
            headers={"Cache-Control": "public, max-age=3600"},
        )

    # ----- the page -------------------------------------------------------------------------

    async def show(self, request: web.Request) -> web.Response:
        access = await self._access(request)
        editing: int | None = None
        edit_form = HoursForm()
        wanted = request.query.get("ret", "")
        if wanted:
            try:
                editing = parse_entry_id(wanted)
                edit_form = await self._run(self.page.entry, access, editing)
            except (InvalidInputError, NotFoundError):
                raise web.HTTPNotFound() from None
        message = MESSAGES.get(request.query.get("besked", ""), "")
        return await self._render(
            request, access, message=message, editing=editing, edit_form=edit_form
        )

    async def log_hours(self, request: web.Request) -> web.Response:
        access = await self._access(request)
        form = HoursForm.from_post(await self._form(request, access))
        if await self._run(self.page.log, access, form, self.clock()):
            self._back(request, "gemt")
        return await self._render(request, access, form=form, status=400)

    async def edit_hours(self, request: web.Request) -> web.Response:
        access = await self._access(request)
        entry = self._entry(request)
        form = HoursForm.from_post(await self._form(request, access))
        if await self._run(self.page.edit, access, entry, form, self.clock()):
            self._back(request, "rettet", f"#post-{entry}")
        return await self._render(request, access, editing=entry, edit_form=form, status=400)

    async def delete_hours(self, request: web.Request) -> web.Response:
        access = await self._access(request)
        entry = self._entry(request)
        await self._form(request, access)
        await self._run(self.page.delete, access, entry, self.clock())
        self._back(request, "slettet")

    async def meeting(self, request: web.Request) -> web.Response:
        access = await self._access(request)
        meeting = int(request.match_info["meeting"])
        found = await self._run(self.page.meeting_file, access, meeting, self.clock())
        return web.Response(
            body=found.body,
            content_type="text/calendar",
            charset="utf-8",
            headers=PAGE_HEADERS
            | {"Content-Disposition": f'attachment; filename="{found.filename}"'},
        )

    # ----- participants ---------------------------------------------------------------------

    async def add_participant(self, request: web.Request) -> web.Response:
        access = await self._access(request)
        form = PersonForm.from_post(await self._form(request, access))
        if not await self._run(self.participants.has_participants, access):
            raise web.HTTPNotFound()
        if await self._run(self.participants.add, access, form, self.clock()):
            self._back(request, "tilfoejet", "#deltagere")
        return await self._render(request, access, person=form, status=400)

    async def upload_participants(self, request: web.Request) -> web.Response:
        access = await self._access(request)
        if not request.content_type.startswith("multipart/form-data"):
            raise web.HTTPBadRequest(text="Ugyldig forespørgsel.\n")
        csrf, data, too_big = await _read_upload(request)
        if not csrf or not await self._run(self.csrf.check, access, csrf):
            raise web.HTTPForbidden(text="Formularen er udløbet. Hent siden igen.\n")
        form = PersonForm()
        try:
            if too_big:
                raise FieldError(
                    "file", "the file is larger than {limit} kB", limit=CSV_LIMIT // 1000
                )
            await self._run(self.participants.import_csv, access, data, self.clock(), fields=True)
        except FieldError as exc:
            form.errors["file"] = exc.in_language("da")
            return await self._render(request, access, person=form, status=400)
        self._back(request, "indlaest", "#deltagere")

    async def download_participants(self, request: web.Request) -> web.Response:
        access = await self._access(request)
        body = await self._run(self.participants.export_csv, access)
        return web.Response(
            body=body,
            content_type="text/csv",
            charset="utf-8",
            headers=PAGE_HEADERS | {"Content-Disposition": 'attachment; filename="deltagere.csv"'},
        )

    # ----- helpers --------------------------------------------------------------------------

    async def _access(self, request: web.Request) -> PageAccess:
        """The live token of the request, rate-limited; 404 for any other."""
        token = request.match_info["token"]
        wait = self.limit.allow(hashlib.sha256(token.encode("ascii")).hexdigest())
        if wait is not None:
            raise web.HTTPTooManyRequests(
                text="For mange forespørgsler. Prøv igen om lidt.\n",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        access = await self._run(self._resolve, token)
        if access is None:
            raise web.HTTPNotFound()
        return access

    def _resolve(self, token: str) -> PageAccess | None:
        try:
            with self.fbh.store.transaction() as tx:
                return resolve(tx, token)
        except NotFoundError:
            return None

    async def _form(self, request: web.Request, access: PageAccess) -> dict[str, str]:
        """The POSTed fields (text only); 403 without the right CSRF token."""
        data = await request.post()
        fields = {k: v for k, v in data.items() if isinstance(v, str)}
        given = fields.get("csrf", "")
        if not given or len(given) > 128 or not await self._run(self.csrf.check, access, given):
            raise web.HTTPForbidden(text="Formularen er udløbet. Hent siden igen.\n")
        return fields

    def _entry(self, request: web.Request) -> int:
        return int(request.match_info["entry"])

    def _back(self, request: web.Request, message: str, anchor: str = "#timer") -> NoReturn:
        """Post/redirect/get: back to the page, with a message saying what was done."""
        token = request.match_info["token"]
        location = f"{page_path(token)}?besked={message}{anchor}"
        raise web.HTTPSeeOther(location, headers=PAGE_HEADERS)

    async def _render(
        self,
        request: web.Request,
        access: PageAccess,
        *,
        form: HoursForm | None = None,
        editing: int | None = None,
        edit_form: HoursForm | None = None,
        message: str = "",
        status: int = 200,
        person: PersonForm | None = None,
    ) -> web.Response:
        now = self.clock()
        context = await self._run(self.page.context, access, now)
        context["participants"] = await self._run(self.participants.context, access)
        context["person"] = (person or PersonForm()).context()
        base = page_path(request.match_info["token"])
        context |= {
            "base": base,
            "action": base,
            "csrf": await self._run(self.csrf.token, access),
            "form": _form_context(form or HoursForm()),
            "editing": editing,
            "edit_form": _form_context(edit_form or HoursForm()),
            "message": message,
        }
        html = render_page(context)
        return web.Response(
            text=html,
            status=status,
            content_type="text/html",
            charset="utf-8",
            headers=PAGE_HEADERS,
        )

    async def _run(self, function: Callable[..., Any], *args: Any, fields: bool = False) -> Any:
        """Database work in a worker thread; an unknown entry or meeting is 404, an
        unreachable database 503."""
        try:
            return await asyncio.to_thread(function, *args)
        except NotFoundError:
            raise web.HTTPNotFound() from None
        except FieldError:
            if fields:
                raise  # the handler shows it beside its field
            raise web.HTTPBadRequest(text="Ugyldig forespørgsel.\n") from None
        except FbhError as exc:
            if isinstance(exc, InvalidInputError):
                log.info("page: refused: %s", exc)
                raise web.HTTPBadRequest(text="Ugyldig forespørgsel.\n") from None
            log.warning("page: the database does not answer: %s", exc)
            raise web.HTTPServiceUnavailable(text="Siden kan ikke vises lige nu.\n") from None


def _form_context(form: HoursForm) -> dict[str, Any]:
    errors = {name: "" for name in ("", "date", "hours", "note", "part")} | form.errors
    return form.values() | {"errors": errors, "failed": bool(form.errors)}


async def _read_upload(request: web.Request) -> tuple[str, bytes, bool]:
    """The CSRF field and the file (``fil``) of a CSV upload, reading no more than
    ``CSV_LIMIT`` bytes of the file: (csrf, data, too big)."""
    reader = await request.multipart()
    csrf, chunks, size = "", [], 0
    for _ in range(MAX_PARTS):
        part = await reader.next()
        if part is None or not isinstance(part, BodyPartReader):
            break
        if part.name == "csrf":
            csrf = (await part.read_chunk(256)).decode("ascii", "replace")
        elif part.name == "fil":
            while chunk := await part.read_chunk(16_384):
                size += len(chunk)
                if size > CSV_LIMIT:
                    return csrf, b"", True
                chunks.append(chunk)
    return csrf, b"".join(chunks), False
