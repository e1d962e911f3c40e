"""Run a `connector` command in a forked child with a time and memory limit: the engine is imported
once by the parent, so each case costs milliseconds, and a hang or a memory bomb ends that child
only. The child's output is what the user would see; a traceback in it, an unexpected-error exit
(5) or a child that did not finish in time are the findings."""

from __future__ import annotations

import multiprocessing
import os
import resource
from dataclasses import dataclass

TIMEOUT = 20.0  # seconds per case (the slowest legitimate case takes about 2 s on a busy machine)
MEMORY = 1_500_000_000  # bytes of address space per case


@dataclass
class Outcome:
    code: int | None  # None: killed (a hang) or crashed
    output: str
    seconds: float
    hang: bool = False

    @property
    def traceback(self) -> bool:
        return "Traceback (most recent call last)" in self.output or self.code == 5 or \
            (self.code is None and not self.hang)


def _address_space() -> int:
    """Bytes of address space this process maps now (the forked child starts with the parent's)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def _child(args: list[str], env: dict[str, str], conn) -> None:  # pragma: no cover (runs in the child)
    # MEMORY more than the child already maps: inside a long test session the parent (whose address
    # space the child inherits) maps far more than a fresh process, and a limit below that made
    # ordinary allocations fail at random.
    limit = _address_space() + MEMORY
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from click.testing import CliRunner

    from engine.cli import main

    try:
        result = CliRunner().invoke(main, args, env=env, catch_exceptions=True)
        output = result.output + (getattr(result, "stderr", "") or "")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            import traceback

            output += "".join(traceback.format_exception(result.exception))
        conn.send((result.exit_code, output if len(output) < 40_000 else output[:20_000] + output[-20_000:]))
    except BaseException as exc:  # noqa: BLE001
        conn.send((None, f"Traceback (most recent call last)\n{type(exc).__name__}: {exc}"))
    finally:
        os._exit(0)


def run(args: list[str], env: dict[str, str] | None = None, timeout: float = TIMEOUT) -> Outcome:
    import time

    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    started = time.monotonic()
    process = ctx.Process(target=_child, args=(args, env or {}, child), daemon=True)
    process.start()
    child.close()
    if parent.poll(timeout):
        try:
            code, output = parent.recv()
        except EOFError:
            code, output = None, "the child died without an answer"
        process.join(5)
        return Outcome(code, output, time.monotonic() - started)
    process.kill()
    process.join(5)
    return Outcome(None, "", time.monotonic() - started, hang=True)
