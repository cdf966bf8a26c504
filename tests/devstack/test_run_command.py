"""`make run`'s program as a new user meets it: it brings the whole stack up, every service's
/healthz answers 200, and Ctrl-C stops everything — no orphan process left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from devstack.stack import SERVICES

pytestmark = pytest.mark.e2e


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose; only its (dead) parent could still reap it.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def test_run_command_serves_all_four_services_and_ctrl_c_leaves_no_orphans(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack", "--free-ports", "--state-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip())
            if line.startswith("ready:"):
                break
        assert lines and lines[-1].startswith("ready:"), "\n".join(lines)

        urls = {name: line.split()[1] for line in lines for name in SERVICES if line.startswith(name + " ")}
        assert set(urls) == set(SERVICES), lines
        for name, url in urls.items():
            assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200, name
        pids = json.loads((tmp_path / "pids.json").read_text())
        # services + two emulators + the mail sink + the broker, unless it is someone else's
        local_broker = 0 if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") else 1
        assert len(pids) == len(SERVICES) + 3 + local_broker
        assert all(alive(pid) for pid in pids)

        process.send_signal(signal.SIGINT)  # what Ctrl-C does
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    time.sleep(0.2)
    assert [pid for pid in pids if alive(pid)] == []
    # Nothing any child started survives in the children's process groups either.
    assert [pid for pgid in pids for pid in group_members(pgid)] == []
