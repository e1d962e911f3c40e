"""A throwaway PostgreSQL server on this machine, for tests, benchmarks and trying things out.

Uses the server binaries already installed (Debian's ``postgresql`` package puts them under
``/usr/lib/postgresql/<version>/bin``), installs that package with apt-get when they are missing
and this process may (root with apt-get on PATH), then ``initdb`` into a temporary directory and
``pg_ctl start`` on a free port bound to 127.0.0.1, with its socket in that directory too. The
server refuses to run as root, so as root it runs as the ``postgres`` user the package creates.
Durability is traded for speed (fsync off): the data is thrown away when the server stops.

    with LocalPostgres() as pg:
        url = pg.url            # postgresql://postgres@127.0.0.1:PORT/postgres
"""

from __future__ import annotations

import fcntl
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

# Shared with scripts/install-browser.sh: one apt user at a time on this machine.
APT_LOCK = "/tmp/connector-apt.lock"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server could be found or installed here."""


def _bin_dir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
                        if Path(p).parent.name.isdigit() else 0, reverse=True)
    for found in candidates:
        if (Path(found) / "initdb").exists() and (Path(found) / "pg_ctl").exists():
            return Path(found)
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(os.path.realpath(initdb)).parent
    return None


def find_binaries(install: bool = True) -> Path:
    """The directory of initdb and pg_ctl, installing Debian's package if allowed and needed."""
    found = _bin_dir()
    if found is not None:
        return found
    if install and os.geteuid() == 0 and shutil.which("apt-get"):
        # Parallel test workers (and the browser tests' installer) may want apt at the same moment;
        # apt refuses a second caller outright, so every installer queues on one lock file.
        with open(APT_LOCK, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            found = _bin_dir()  # installed by whoever held the lock before us
            if found is not None:
                return found
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            for cmd in (["apt-get", "update", "-q"],
                        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql"]):
                done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
                if done.returncode != 0:
                    raise PostgresUnavailable(f"{' '.join(cmd)} failed: {done.stderr.strip()[-500:]}")
        found = _bin_dir()
        if found is not None:
            return found
    raise PostgresUnavailable("no PostgreSQL server binaries (initdb, pg_ctl) here and they could not be "
                              "installed (needs root and apt-get: apt-get install postgresql)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalPostgres:
    """One server in a temporary directory; ``stop()`` (or leaving the ``with``) removes it all."""

    def __init__(self, *, max_connections: int = 300, install: bool = True,
                 settings: dict[str, str] | None = None) -> None:
        self.bin = find_binaries(install)
        self.max_connections = max_connections
        self.extra_settings = dict(settings or {})  # postgresql.conf lines of the caller's own
        self.port = 0
        self.dir: Path | None = None
        self._user: str | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self._user is not None:
            cmd = ["runuser", "-u", self._user, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd="/")
        if done.returncode != 0:
            raise PostgresUnavailable(f"{args[0]} failed: {(done.stderr or done.stdout).strip()[-800:]}")
        return done

    def start(self) -> LocalPostgres:
        self.dir = Path(tempfile.mkdtemp(prefix="connector-pg-"))
        if os.geteuid() == 0:
            # initdb and postgres refuse to run as root.
            import pwd
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable("running as root and there is no postgres user to run the server as") from None
            self._user = "postgres"
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        data = self.dir / "data"
        self._run(["initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                   "--no-locale", "--no-sync"])
        settings = {
            "listen_addresses": "'127.0.0.1'", "unix_socket_directories": f"'{self.dir}'",
            "max_connections": str(self.max_connections), "fsync": "off", "synchronous_commit": "off",
            "full_page_writes": "off", "shared_buffers": "64MB", "log_min_messages": "warning",
            **self.extra_settings,
        }
        with open(data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.writelines(f"{k} = {v}\n" for k, v in settings.items())
        for attempt in range(5):
            self.port = free_port()
            try:
                self._run(["pg_ctl", "-D", str(data), "-o", f"-p {self.port}", "-l", str(self.dir / "log"),
                           "-w", "-t", "60", "start"])
                return self
            except PostgresUnavailable:
                if attempt == 4:  # the port may have been taken between choosing and binding it
                    log = (self.dir / "log").read_text(errors="replace")[-800:] if (self.dir / "log").exists() else ""
                    self.stop()
                    raise PostgresUnavailable(f"PostgreSQL did not start: {log}") from None
                time.sleep(0.2)
        return self

    def stop(self) -> None:
        if self.dir is None:
            return
        data = self.dir / "data"
        if (data / "postmaster.pid").exists():
            try:
                self._run(["pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop"], timeout=60)
            except (PostgresUnavailable, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> int:
    """``python -m engine.state.postgres.local``: start a server, print its URL, stop on Ctrl-C."""
    with LocalPostgres() as pg:
        print(pg.url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
