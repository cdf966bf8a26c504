"""The local mail sink keeps every accepted message as an .eml file and says where."""

from __future__ import annotations

import asyncio
import email
import email.policy
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest

from devstack.mail_sink import message_name, running_sink


def message(to: str, subject: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "noreply@visitor.example"
    mail["To"] = to
    mail["Subject"] = subject
    mail.set_content("ご来訪ありがとうございます。\nThank you for visiting.")
    mail.add_attachment(
        b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", maintype="text", subtype="calendar", filename="invite.ics"
    )
    return mail


async def test_every_message_becomes_one_eml_file_readable_as_sent(tmp_path: Path) -> None:
    async with running_sink(tmp_path / "mail") as sink:
        for i in range(3):
            await aiosmtplib.send(
                message(f"guest{i}@example.org", f"件名 {i}"), hostname=sink.host, port=sink.port
            )
        files = sink.messages()
    assert len(files) == 3
    assert all(f.suffix == ".eml" and f.parent == tmp_path / "mail" for f in files)
    parsed = [email.message_from_bytes(f.read_bytes(), policy=email.policy.default) for f in files]
    assert sorted(str(m["To"]) for m in parsed) == [f"guest{i}@example.org" for i in range(3)]
    first = parsed[0]
    assert str(first["Subject"]).startswith("件名")
    body = first.get_body(("plain",))
    assert body is not None and "ご来訪" in body.get_content()
    attachments = [part.get_filename() for part in first.iter_attachments()]
    assert attachments == ["invite.ics"]
    assert not list((tmp_path / "mail").glob(".*"))  # no half-written files left behind


def test_file_names_sort_by_arrival() -> None:
    names = [message_name() for _ in range(5)]
    assert names == sorted(names) and len(set(names)) == 5


def test_runs_as_a_module_and_prints_where_it_writes(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.mail_sink", "--dir", str(tmp_path / "out"), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "mail sink: smtp://127.0.0.1:" in line and str(tmp_path / "out") in line
        port = int(line.split("smtp://127.0.0.1:")[1].split()[0])
        deadline = time.monotonic() + 30
        asyncio.run(aiosmtplib.send(message("g@example.org", "hi"), hostname="127.0.0.1", port=port))
        while not list((tmp_path / "out").glob("*.eml")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(list((tmp_path / "out").glob("*.eml"))) == 1
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0


@pytest.mark.parametrize("argv", [[], ["--port", "x", "--dir", "d"]])
def test_bad_arguments_exit_2(argv: list[str]) -> None:
    result = subprocess.run([sys.executable, "-m", "devstack.mail_sink", *argv], capture_output=True)
    assert result.returncode == 2
