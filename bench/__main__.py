"""Run every benchmark (or the ones named on the command line) and print a summary.

Each bench module has a ``main() -> dict`` that measures, writes bench/results/<name>.json
and returns the figures. Speed figures live here, never in tests: the machines are shared,
so every figure is a ratio measured within one run.
"""

from __future__ import annotations

import importlib
import json
import sys
import time

BENCHES = (
    "runtime",
    "transcode",
    "transcribe",
    "llm",
    "localllm",
    "clips",
    "video",
    "pipeline",
    "load",
)


def main(argv: list[str]) -> int:
    names = argv or list(BENCHES)
    failed = []
    for name in names:
        started = time.monotonic()
        print(f"== bench {name}", flush=True)
        try:
            module = importlib.import_module(f"bench.{name}")
            result = module.main()
        except Exception as exc:  # one broken bench must not hide the others' results
            failed.append(name)
            print(f"!! bench {name} failed: {type(exc).__name__}: {exc}", flush=True)
            continue
        print(json.dumps(result, indent=2, default=str)[:2000])
        print(f"== bench {name} took {time.monotonic() - started:.0f} s", flush=True)
    if failed:
        print(f"failed benches: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
