"""MaildirTransport delivers real files; InMemoryTransport follows the same contract."""

from __future__ import annotations

import email
import email.policy
import mailbox
import os
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from mime_reference import build_message, to_bytes

from engine.domain.errors import TransportError
from engine.domain.model import Contact
from notifications.mime import MailSpec, message_id_for
from notifications.transports import (
    DeliveryResult,
    Envelope,
    InMemoryTransport,
    MaildirTransport,
    Transport,
)

CPH = ZoneInfo("Europe/Copenhagen")


def envelope(recipient: str, subject: str = "Påmindelse: Workshop på Ærøvej") -> Envelope:
    message_id = message_id_for(f"reminder:{recipient}", "bl.dk")
    spec = MailSpec(
        sender=Contact("Fra bolig til hjem", "fbh@bl.dk"),
        to=(Contact("Søren Ærø", recipient),),
        subject=subject,
        text="Kære Søren\nHusk workshoppen.\n",
        html="<p>Kære Søren</p>",
        message_id=message_id,
        date=datetime(2027, 3, 1, 9, 0, tzinfo=CPH),
    )
    return Envelope(message_id, "fbh@bl.dk", (recipient,), to_bytes(build_message(spec)))


async def test_delivers_into_new_and_parses_back(tmp_path: Path) -> None:
    path = tmp_path / "mail"
    batch = [envelope("soren@boligost.dk"), envelope("anna@bl.dk")]

    results = await MaildirTransport(path).send_batch(batch)

    assert results == [DeliveryResult(e.message_id) for e in batch]
    assert len(list((path / "new").iterdir())) == 2
    assert list((path / "tmp").iterdir()) == []
    box = mailbox.Maildir(path, factory=None, create=False)
    by_id = {}
    for key in box.iterkeys():
        parsed = email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
        by_id[parsed["Message-ID"]] = parsed
    assert set(by_id) == {e.message_id for e in batch}
    message = by_id[batch[0].message_id]
    assert message["Subject"] == "Påmindelse: Workshop på Ærøvej"
    assert message["To"].addresses[0].display_name == "Søren Ærø"
    assert message["Return-Path"] == "<fbh@bl.dk>"
    assert message["Delivered-To"] == "soren@boligost.dk"
    body = message.get_body(("plain",))
    assert body is not None
    assert body.get_content() == "Kære Søren\nHusk workshoppen.\n"


async def test_an_existing_empty_folder_becomes_a_maildir(tmp_path: Path) -> None:
    await MaildirTransport(tmp_path).send_batch([envelope("soren@boligost.dk")])

    [file] = list((tmp_path / "new").iterdir())
    assert b"\r\n" not in file.read_bytes()


async def test_delivering_twice_keeps_both_copies(tmp_path: Path) -> None:
    transport = MaildirTransport(tmp_path)
    same = envelope("soren@boligost.dk")

    await transport.send_batch([same])
    await transport.send_batch([same])

    assert len(list((tmp_path / "new").iterdir())) == 2  # at-least-once; dedupe by Message-ID


async def test_unusable_maildir_raises_transient(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the Maildir should be")

    with pytest.raises(TransportError) as caught:
        await MaildirTransport(blocker / "mail").send_batch([envelope("a@example.org")])

    assert caught.value.permanent is False
    assert isinstance(caught.value.__cause__, OSError)


async def test_empty_batch(tmp_path: Path) -> None:
    assert await MaildirTransport(tmp_path / "mail").send_batch([]) == []


# InMemoryTransport: the stand-in for unit tests of the outbox follows the same contract.


async def test_in_memory_collects_and_follows_the_script() -> None:
    refused = TransportError("550 no such user", permanent=True, code=550)
    transport = InMemoryTransport(script=[None, refused])
    batch = [envelope("a@example.org"), envelope("b@example.org"), envelope("c@example.org")]

    results = await transport.send_batch(batch)

    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error is refused
    assert transport.sent == [batch[0], batch[2]]
    assert transport.batches == [batch]


async def test_in_memory_batch_failure_and_close() -> None:
    transport: Transport
    async with InMemoryTransport() as transport:
        assert isinstance(transport, InMemoryTransport)
        transport.fail_next_batch(TransportError("connection refused"))
        with pytest.raises(TransportError, match="refused"):
            await transport.send_batch([envelope("a@example.org")])
        assert (await transport.send_batch([envelope("a@example.org")]))[0].ok
    assert transport.closed
    with pytest.raises(TransportError):
        await transport.send_batch([envelope("a@example.org")])


# Durability: the order of the system calls, seen by wrapping os.fsync and os.rename.


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Record every fsync and rename (from any thread) with the full path it concerns."""
    calls: list[tuple[str, str]] = []
    real_fsync, real_rename = os.fsync, os.rename

    def fsync(fd: int) -> None:
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def rename(source: str, target: str, **dir_fds: int) -> None:
        where = dir_fds.get("dst_dir_fd")
        folder = os.readlink(f"/proc/self/fd/{where}") if where is not None else ""
        calls.append(("rename", os.path.join(folder, target)))
        real_rename(source, target, **dir_fds)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    return calls


async def test_each_file_is_synced_before_its_rename_and_new_after_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _spy(monkeypatch)
    batch = [envelope(f"r{i}@bl.dk") for i in range(70)]  # more than one round of files

    results = await MaildirTransport(tmp_path).send_batch(batch)

    assert [r.message_id for r in results] == [e.message_id for e in batch]  # in order
    assert all(r.ok for r in results)
    names = sorted(p.name for p in (tmp_path / "new").iterdir())
    assert len(names) == 70
    inbox_tmp = str(tmp_path / "tmp") + "/"
    synced_files = [path for what, path in calls if what == "fsync" and path.startswith(inbox_tmp)]
    assert sorted(Path(p).name for p in synced_files) == names
    for name in names:
        synced_at = calls.index(("fsync", str(tmp_path / "tmp" / name)))
        assert synced_at < calls.index(("rename", str(tmp_path / "new" / name)))
    assert calls[-1] == ("fsync", str(tmp_path / "new"))  # once, after every rename
    assert calls.count(("fsync", str(tmp_path / "new"))) == 1


async def test_without_fsync_files_are_only_renamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _spy(monkeypatch)
    await MaildirTransport(tmp_path, fsync=False).send_batch([envelope("a@bl.dk")])
    assert [what for what, _ in calls] == ["rename"]


async def test_a_file_that_cannot_be_synced_fails_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        path = Path(os.readlink(f"/proc/self/fd/{fd}"))
        if path.is_file() and b"Delivered-To: bad@bl.dk" in path.read_bytes():
            raise OSError(5, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    batch = [envelope("a@bl.dk"), envelope("bad@bl.dk"), envelope("c@bl.dk")]
    results = await MaildirTransport(tmp_path).send_batch(batch)

    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error is not None and results[1].error.permanent is False
    assert isinstance(results[1].error.__cause__, OSError)
    delivered = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in (tmp_path / "new").iterdir()
    ]
    assert sorted(m["Delivered-To"] for m in delivered) == ["a@bl.dk", "c@bl.dk"]
    assert list((tmp_path / "tmp").iterdir()) == []


async def test_a_failed_sync_of_new_fails_the_whole_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}") == str(tmp_path / "new"):
            raise OSError(5, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(TransportError) as caught:
        await MaildirTransport(tmp_path).send_batch([envelope("a@bl.dk")])

    assert caught.value.permanent is False  # written again: at-least-once, same Message-ID


async def test_file_names_are_unique_and_follow_the_maildir_convention(tmp_path: Path) -> None:
    transport = MaildirTransport(tmp_path, fsync=False)
    batch = [envelope(f"r{i}@bl.dk") for i in range(50)]

    await transport.send_batch(batch)
    await transport.send_batch(batch)

    names = [p.name for p in (tmp_path / "new").iterdir()]
    assert len(set(names)) == 100
    box = mailbox.Maildir(tmp_path, factory=None, create=False)
    assert len(box) == 100
    for name in names:
        assert re.fullmatch(rf"\d+\.M\d+P{os.getpid()}Q\d+\.[^/:]+", name), name
