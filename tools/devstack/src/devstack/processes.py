"""Child processes of the local stack: started in their own process group, stopped as a group,
so Ctrl-C never leaves an orphan (a test checks it)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx


@dataclass
class ManagedProcess:
    name: str
    args: list[str]
    env: Mapping[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    on_line: Callable[[str], None] | None = None
    process: subprocess.Popen[str] | None = field(default=None, repr=False)

    def start(self) -> ManagedProcess:
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            self.args,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # own process group: stop() reaches grandchildren too
        )
        threading.Thread(target=self._pump, name=f"log-{self.name}", daemon=True).start()
        return self

    def _pump(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        sink: IO[str] | None = self.log_path.open("a", encoding="utf-8") if self.log_path else None
        try:
            for line in self.process.stdout:
                if sink:
                    sink.write(line)
                    sink.flush()
                if self.on_line:
                    self.on_line(line.rstrip("\n"))
        finally:
            if sink:
                sink.close()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def kill(self) -> None:
        """SIGKILL the whole process group, as a crash would: no shutdown code runs."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def wait_healthy(
    url: str, *, timeout: float = 60.0, verify: str | bool = True, alive: Callable[[], bool]
) -> None:
    """Poll ``url`` until it answers 200; fail fast if the process died."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"process behind {url} exited during start-up ({last})")
        try:
            response = httpx.get(url, timeout=2.0, verify=verify)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}"
        except httpx.HTTPError as error:
            last = type(error).__name__
        time.sleep(0.2)
    raise TimeoutError(f"{url} not healthy after {timeout}s ({last})")
