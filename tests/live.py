"""A real server for tests that need real concurrency, a process to kill, or a fuzzer on the wire.

The in-process test client hands requests to the app one after another, so it cannot show what
32 buyers at once do to SQLite, nor what a crash between two commits leaves behind. ``serve``
starts ``uvicorn`` (the command ``coopmarket serve`` runs) in a child process on a free loopback
port, with the test's settings as ``COOPMARKET_*`` variables, and stops it afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from coopmarket.settings import Settings

APP_FACTORY = "coopmarket.app:create_app"


def settings_env(settings: Settings, **overrides: Any) -> dict[str, str]:
    """``settings`` (and ``overrides``) as the ``COOPMARKET_*`` environment a server reads."""
    values = settings.model_dump()
    values.update(overrides)
    env: dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        text = json.dumps(value) if isinstance(value, list | dict) else str(value)
        env[f"COOPMARKET_{name.upper()}"] = text.lower() if isinstance(value, bool) else text
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: the process dies at once, mid-request, as in a crash or an OOM kill."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)


def _wait_ready(server: LiveServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited with {server.process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server.base_url}/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server did not get ready in {timeout}s:\n{server.log()}")


@contextmanager
def serve(
    env: dict[str, str], log_path: Path, *, extra_env: dict[str, str] | None = None
) -> Iterator[LiveServer]:
    """Run the app in a child process on a free loopback port until the block ends."""
    port = free_port()
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("COOPMARKET_")}
    child_env.update(env)
    child_env.update(extra_env or {})
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                APP_FACTORY,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=child_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(process, f"http://127.0.0.1:{port}", log_path)
    try:
        _wait_ready(server, timeout=60)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
