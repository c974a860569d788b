"""A PostgreSQL server of the test's own, to restart at will without touching the shared one.

``initdb`` and ``pg_ctl`` from the installed PostgreSQL make a throw-away cluster in a temporary
directory, listening on a free loopback port, run as the ``postgres`` system user (PostgreSQL
refuses to run as root). Tests that need it are skipped where that is not possible.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.live import free_port


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def unavailable_reason() -> str | None:
    """Why a private cluster cannot be made here, or None."""
    if _binaries() is None:
        return "PostgreSQL's server binaries (initdb, pg_ctl) are not installed"
    if os.geteuid() != 0 and pwd.getpwuid(os.geteuid()).pw_name != "postgres":
        return "a private PostgreSQL cluster needs root (to run it as postgres) or the postgres user"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "there is no postgres system user"
    return None


@dataclass
class PrivatePostgres:
    directory: Path
    port: int
    bin: Path

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *args: str, timeout: float = 60) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=timeout)  # noqa: S603

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        )
        self._as_postgres(
            "pg_ctl",
            "-D",
            str(self.directory / "data"),
            "-l",
            str(self.directory / "server.log"),
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres("pg_ctl", "-D", str(self.directory / "data"), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        """What an operator's restart does: every session ends, the server comes back."""
        self.stop("fast")
        self.start()

    def log(self) -> str:
        path = self.directory / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""


def create() -> PrivatePostgres:
    """A new, started cluster; ``destroy`` it afterwards."""
    binaries = _binaries()
    assert binaries is not None
    directory = Path(tempfile.mkdtemp(prefix="coopmarket-pg-"))
    user = pwd.getpwnam("postgres")
    os.chown(directory, user.pw_uid, user.pw_gid)
    cluster = PrivatePostgres(directory, free_port(), binaries)
    cluster._as_postgres(
        "initdb",
        "-D",
        str(directory / "data"),
        "-A",
        "trust",
        "-U",
        "postgres",
        "-E",
        "UTF8",
        "--locale=C.UTF-8",
        "--no-sync",
    )
    cluster.start()
    return cluster


def destroy(cluster: PrivatePostgres) -> None:
    try:
        cluster._as_postgres("pg_ctl", "-D", str(cluster.directory / "data"), "-m", "immediate", "stop")
    except subprocess.CalledProcessError:
        pass  # already stopped
    shutil.rmtree(cluster.directory, ignore_errors=True)
