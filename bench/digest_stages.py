"""Where the weekly digests' time goes: the CPU seconds of each stage, one after the other.

The same seeded data as ``bench.digests`` (500 consultants × 20 programmes, its cached
SQLite file), in a fresh process per run. The stages are those the weekly run goes through
for every digest, run one after the other over all digests so each is timed alone (CPU time,
``time.process_time``, which a busy machine disturbs less than wall time):

* ``build``: the digests read from the store and built
  (``engine.services.digests.build_digests``: every programme digest, the requests, the
  lead's load);
* ``context``: the template contexts (``notifications.digests.digest_context``) and the
  lead's CSV attachments;
* ``json``: storing the context and reading it back as template values, as the payload
  keeps it (packed since issue 15: ``engine.domain.packed.pack_context``, then
  ``payload_context`` and ``notifications.outbox.revive``; until then ``json.dumps`` and
  ``json.loads`` of the nested context), what rendering a digest from its stored payload
  adds (the fallback when its bytes are stale);
* ``jinja``: the subject, text and HTML (``notifications.render.render_mail``);
* ``mime``: the wire bytes (``notifications.wire.message_bytes``: quoted-printable, headers).

Not included: the outbox writes and claims (``bench.digests`` times the whole run).

``python -m bench.digest_stages [--runs 5] [--consultants 500] [--programmes 20]``
"""

from __future__ import annotations

import argparse
import time

from bench import harness
from bench.digests import NOW, seeded_world
from bench.harness import Metric, Options
from engine.domain.digest import ConsultantDigest, LeadDigest
from engine.domain.model import Contact
from engine.domain.packed import PACKED_KEY, pack_context, payload_context
from engine.services.digests import build_digests, digest_consultants
from engine.services.facade import Fbh
from notifications.digests import CONSULTANT_KIND, LEAD_KIND, digest_context, lead_attachments
from notifications.envelope import revive
from notifications.mime import Attachment, MailSpec
from notifications.render import render_mail
from notifications.wire import message_bytes

STAGES = ("build", "context", "json", "jinja", "mime")
METRICS = {
    "cpu_build": Metric("Digest stages: build from the store (CPU)", "s"),
    "cpu_context": Metric("Digest stages: template contexts and CSV (CPU)", "s"),
    "cpu_json": Metric("Digest stages: context stored (packed) and read back (CPU)", "s"),
    "cpu_jinja": Metric("Digest stages: Jinja, subject + text + HTML (CPU)", "s"),
    "cpu_mime": Metric("Digest stages: MIME bytes, quoted-printable (CPU)", "s"),
    "cpu_total": Metric("Digest stages: all of the above (CPU)", "s"),
}


def measure_once(options: Options) -> dict[str, float]:
    with seeded_world(options, "fbh-bench-stages-") as fbh:
        return stages(fbh, digest_consultants(fbh))


def stages(fbh: Fbh, emails: list[str]) -> dict[str, float]:
    cpu = {}
    began = time.process_time()
    built = build_digests(fbh, NOW, emails, fbh.settings.lead)
    cpu["build"] = time.process_time() - began
    digests: list[ConsultantDigest | LeadDigest] = [
        *built.consultants,
        *([built.lead] if built.lead else []),
    ]

    began = time.process_time()
    contexts = [digest_context(d, fbh.tz) for d in digests]
    attached = [lead_attachments(d) if isinstance(d, LeadDigest) else [] for d in digests]
    cpu["context"] = time.process_time() - began

    began = time.process_time()
    revived = [revive(payload_context({PACKED_KEY: pack_context(c)})) for c in contexts]
    cpu["json"] = time.process_time() - began

    began = time.process_time()
    kinds = [LEAD_KIND if isinstance(d, LeadDigest) else CONSULTANT_KIND for d in digests]
    rendered = [render_mail(k, c) for k, c in zip(kinds, revived, strict=True)]
    cpu["jinja"] = time.process_time() - began

    sender = fbh.settings.sender
    began = time.process_time()
    for digest, mail, files in zip(digests, rendered, attached, strict=True):
        message_bytes(
            MailSpec(
                sender=sender,
                to=(Contact(digest.recipient.name, digest.recipient.email),),
                subject=mail.subject,
                text=mail.text,
                html=mail.html,
                message_id="<stage@bench.invalid>",
                date=NOW,
                headers=(("X-Fbh-Kind", "digest"),),
                attachments=tuple(
                    Attachment(f["filename"], f["subtype"], f["text"]) for f in files
                ),
            )
        )
    cpu["mime"] = time.process_time() - began
    figures = {f"cpu_{stage}": cpu[stage] for stage in STAGES}
    figures["cpu_total"] = sum(cpu.values())
    return figures


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--consultants", type=int, default=500)
    parser.add_argument("--programmes", type=int, default=20, help="per consultant")


if __name__ == "__main__":
    harness.main(
        "digest_stages",
        METRICS,
        measure_once,
        description=(
            "the weekly digests stage by stage (build, contexts, JSON round trip, Jinja, MIME), "
            "CPU seconds, on bench.digests' data"
        ),
        add_arguments=add_arguments,
    )
