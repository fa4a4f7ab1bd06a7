"""Run every benchmark, print its numbers and merge them into bench/results.json.

`make bench` runs this. Each benchmark module has `run() -> dict` of named measurements; the
results file keeps the latest value of each name with the machine it was measured on.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).with_name("results.json")
BENCHMARKS = ("bench.assignment", "bench.ranking", "bench.enrolment")


def machine() -> dict:
    """Describe where the numbers were measured."""
    return {
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.machine()}",
        "cpus": os.cpu_count(),
        "database": os.environ.get("BENCH_DATABASE_URL", "sqlite (file)").split("@")[-1],
    }


def main(names: list[str]) -> None:
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for name in names or BENCHMARKS:
        print(f"== {name}", flush=True)
        measured = importlib.import_module(name).run()
        for key, value in measured.items():
            print(f"  {key:<28} {value}")
        results.update(measured)
    results["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["machine"] = machine()
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main(sys.argv[1:])
