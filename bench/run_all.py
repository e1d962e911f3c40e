"""Run every benchmark script in bench/ that has a main(), one after the other, and print its table.

    .venv/bin/python bench/run_all.py                 # all of them
    .venv/bin/python bench/run_all.py mapping         # only scripts whose name contains "mapping"

Each script's main() runs with its own defaults (an empty argument list).
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def scripts(only: list[str]) -> list[Path]:
    found = []
    for path in sorted(HERE.glob("*.py")):
        if path.name in (Path(__file__).name, "__init__.py") or path.name.startswith("_"):
            continue
        if only and not any(word in path.stem for word in only):
            continue
        if "def main(" in path.read_text(encoding="utf-8"):
            found.append(path)
    return found


def run(path: Path) -> bool:
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    saved = sys.argv
    sys.argv = [str(path)]  # scripts that read sys.argv get their defaults
    try:
        spec.loader.exec_module(module)
        main = module.main
        if inspect.signature(main).parameters:
            main([])
        else:
            main()
        return True
    except SystemExit as exc:
        return not exc.code
    except Exception:  # noqa: BLE001  (one broken benchmark must not hide the others)
        traceback.print_exc()
        return False
    finally:
        sys.argv = saved


def main(argv: list[str] | None = None) -> int:
    root = str(HERE.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    failed = []
    for path in scripts(list(argv if argv is not None else sys.argv[1:])):
        print(f"\n=== {path.name} ===", flush=True)
        start = time.perf_counter()
        if not run(path):
            failed.append(path.name)
        print(f"({time.perf_counter() - start:.1f} s)", flush=True)
    if failed:
        print("\nfailed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
