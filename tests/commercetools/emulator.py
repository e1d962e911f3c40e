"""The commercetools API emulator (`@labdigital/commercetools-mock`, npm), run by the tests on
127.0.0.1: installed into scripts/commercetools-mock on first use, started on a free port, stopped
after. Without node or npm the tests that need it are skipped, saying so."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import threading
from pathlib import Path

import httpx

FOLDER = Path(__file__).resolve().parents[2] / "scripts" / "commercetools-mock"
PACKAGE = FOLDER / "node_modules" / "@labdigital" / "commercetools-mock"


class Emulator:
    def __init__(self, process: subprocess.Popen, port: int) -> None:
        self.process, self.port = process, port
        self.url = f"http://127.0.0.1:{port}"

    def token(self, project: str, client_id: str = "tests", secret: str = "tests-secret") -> str:
        response = httpx.post(f"{self.url}/oauth/token", auth=(client_id, secret),
                              data={"grant_type": "client_credentials", "scope": f"manage_project:{project}"})
        response.raise_for_status()
        return response.json()["access_token"]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def missing_tools() -> str | None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    return f"{' and '.join(missing)} not installed: the commercetools emulator (npm) cannot run" if missing else None


def install() -> None:
    if PACKAGE.exists():
        return
    # Parallel test workers would run two npm installs into one node_modules: queue on a lock.
    with open(FOLDER / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if PACKAGE.exists():
            return
        result = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=FOLDER,
                                capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"npm install of the commercetools emulator failed:\n{result.stderr[-2000:]}")


def start(timeout: float = 60.0) -> Emulator:
    install()
    process = subprocess.Popen(["node", "server.mjs", "0"], cwd=FOLDER, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    found: list[int] = []
    output: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in process.stdout:  # the first line names the port; later lines are drained
            if line.startswith("listening ") and not found:
                found.append(int(line.split()[1]))
                ready.set()
            elif len(output) < 200:
                output.append(line)
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(timeout) or not found:
        process.kill()
        raise RuntimeError("the commercetools emulator did not start:\n" + "".join(output)[-2000:])
    emulator = Emulator(process, found[0])
    httpx.get(f"{emulator.url}/oauth/token", timeout=5)  # answers (405/400) once routes are up
    return emulator
