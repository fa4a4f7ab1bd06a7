"""Run every benchmark, print its numbers and merge them into bench/results.json.

`make bench` runs this. Each benchmark module has `run() -> dict` of named measurements; the
results file keeps the latest value of each name with the machine it was measured on, and
bench/results.md shows the national benchmark's table. With BENCH_QUICK=1 (a shortened run for
development) nothing is written.
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
MARKDOWN = Path(__file__).with_name("results.md")
BENCHMARKS = ("bench.assignment", "bench.ranking", "bench.enrolment", "bench.national")
QUICK = os.environ.get("BENCH_QUICK", "").strip().lower() in {"1", "true", "yes"}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def machine() -> dict:
    """Describe where the numbers were measured."""
    return {
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.machine()}",
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gb": _memory_gb(),
        "database": os.environ.get("BENCH_DATABASE_URL", "sqlite (file)").split("@")[-1],
    }


def main(names: list[str]) -> None:
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for name in names or BENCHMARKS:
        print(f"== {name}", flush=True)
        measured = importlib.import_module(name).run()
        for key, value in measured.items():
            if key == "pages":
                continue
            print(f"  {key:<28} {value}")
        results.update(measured)
    if "pages" in results:
        print(markdown_table(results))
    if QUICK:
        print("BENCH_QUICK=1: a shortened run; bench/results.json and results.md are unchanged")
        return
    results["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["machine"] = machine()
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
    print(f"written to {RESULTS}")
    if "pages" in results:
        MARKDOWN.write_text(markdown(results))
        print(f"written to {MARKDOWN}")


# --- the Markdown report --------------------------------------------------------------------

PAGE_TITLES = {
    "call_page": "Public call page",
    "applicant_dashboard": "Applicant dashboard",
    "application_section": "Application section (narrative)",
    "application_autosave": "Application autosave (htmx POST)",
    "staff_applications": "Staff applications list, page 1",
    "staff_applications_filtered": "Staff applications list, filtered",
    "evaluator_dashboard": "Evaluator dashboard",
    "scoring_page": "Evaluator scoring page",
    "ranking": "Ranking (whole call)",
    "public_results": "Public results page",
    "open_data": "Open-data export (CSV)",
    "axis_dashboard": "Axis dashboard",
    "training_catalogue": "Training catalogue",
}
FLOOR_AIM = 3
WEIGHT_AIM_KB = 60


def _flag(ok: bool) -> str:
    return "" if ok else " ✗"


def _pages_in_order(pages: dict) -> list[tuple[str, dict]]:
    """The pages in the order the benchmark measures them (results.json sorts its keys)."""
    known = [name for name in PAGE_TITLES if name in pages]
    return [(name, pages[name]) for name in known + sorted(set(pages) - set(known))]


def markdown_table(results: dict) -> str:
    """Return the table of the national benchmark's pages."""
    small = results.get("national_small_applications", 1000)
    large = results.get("national_applications", 10000)
    lines = [
        f"| page | p50 ms | p95 ms | floor p95 ms | p95 ÷ floor | queries at {small:,} | "
        f"queries at {large:,} | bytes | weight KB (gzip) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, page in _pages_in_order(results["pages"]):
        ratio_ok = page["floor_ratio"] <= FLOOR_AIM
        queries_ok = page["queries_1k"] == page["queries_10k"]
        weight_ok = page.get("weight_gzip_kb", 0) <= WEIGHT_AIM_KB
        lines.append(
            f"| {PAGE_TITLES.get(name, name)} | {page['p50_ms']:.1f} | {page['p95_ms']:.1f} | "
            f"{page['floor_p95_ms']:.1f} ({page.get('floor', 'render')}) | "
            f"{page['floor_ratio']:.2f}{_flag(ratio_ok)} | {page['queries_1k']} | "
            f"{page['queries_10k']}{_flag(queries_ok)} | {page['bytes']:,} | "
            f"{page.get('weight_kb', 0):.1f} ({page.get('weight_gzip_kb', 0):.1f})"
            f"{_flag(weight_ok)} |"
        )
    return "\n".join(lines)


def markdown(results: dict) -> str:
    """Return bench/results.md: the national table, the rush, the machine, the other numbers."""
    box = results.get("machine", {})
    pages = results["pages"]
    missed_ratio = [name for name, page in pages.items() if page["floor_ratio"] > FLOOR_AIM]
    missed_queries = [
        name for name, page in pages.items() if page["queries_1k"] != page["queries_10k"]
    ]
    missed_weight = [
        name for name, page in pages.items() if page.get("weight_gzip_kb", 0) > WEIGHT_AIM_KB
    ]
    floor_queries = [name for name, page in pages.items() if page.get("floor_queries")]
    lines = [
        "# Benchmark results",
        "",
        f"Measured {results.get('measured_at', '?')} on {box.get('system', '?')}, "
        f"{box.get('cpus', '?')} CPUs ({box.get('cpu_model', '?')}), "
        f"{box.get('memory_gb', '?')} GB, Python {box.get('python', '?')}, "
        f"{results.get('national_database', '?')}. Written by `make bench` (bench/run.py).",
        "",
        "## National scale",
        "",
        f"{results.get('national_applications', 0):,} applications "
        f"({results.get('national_rows', 0):,} rows) generated in "
        f"{results.get('national_generate_s', '?')} s on PostgreSQL"
        + (
            f" and {results['national_generate_sqlite_s']} s on SQLite"
            if "national_generate_sqlite_s" in results
            else ""
        )
        + f"; served by gunicorn ({results.get('national_workers', 4)} workers) on 127.0.0.1, "
        f"{results.get('national_clients', 8)} clients at once, 200 requests per page (fewer, "
        "but one per client at least, when a page needs more than 15 s) after a warm-up that "
        "lasts until every worker has served the page. "
        f"A bare `hello` through the same server: p95 "
        f"{results.get('national_hello_p95_ms', '?')} ms. Load average (1 min) before the "
        f"server started, then after the rush (which includes the benchmark's own load): "
        f"{results.get('national_load_average', '?')}.",
        "",
        markdown_table(results),
        "",
        "- **floor (render)**: the same template rendered from the objects of a real answer, kept "
        "in the worker's memory, with no SQL (`/__bench/floor`, bench-only): the bare server "
        "round trip plus the rendering, under the same load. **floor (stream)**: the open-data "
        "CSV written from the funded awards kept in memory. The aim is p95 within "
        f"{FLOOR_AIM}× the floor.",
        "- **queries**: SQL statements of one request in-process (Flask test client), at both "
        "sizes; the aim is the same number.",
        "- **weight**: the answer with the CSS and JavaScript it links (fonts excluded), as "
        f"served (gzip level 6 in brackets, as a compressing proxy would send it); the aim is "
        f"under {WEIGHT_AIM_KB} KB sent.",
        "- ✗ marks a missed aim.",
        "",
        "## Where the database time goes",
        "",
        f"One request alone, in-process, at {results.get('national_applications', 0):,} "
        "applications: the time of all its SQL statements and of the slowest one.",
        "",
        "| page | SQL ms | slowest ms | slowest statement |",
        "|---|---:|---:|---|",
        *(
            f"| {PAGE_TITLES.get(name, name)} | {page.get('sql_ms', '?')} | "
            f"{page.get('slowest_query_ms', '?')} | "
            f"`{page.get('slowest_query', '').replace('|', '¦')[:110]}` |"
            for name, page in _pages_in_order(pages)
        ),
        "",
        "## Deadline rush",
        "",
        f"{results.get('rush_clients', '?')} clients for {results.get('rush_seconds', '?')} s, "
        "each again and again: sign in through the form, open the team section of a nearly "
        "complete draft, autosave the team (htmx), submit, read the receipt. "
        f"{results.get('rush_flows', 0):,} submissions ({results.get('rush_flows_per_s', '?')}"
        f"/s), {results.get('rush_requests', 0):,} requests "
        f"({results.get('rush_requests_per_s', '?')}/s), p95 {results.get('rush_p95_ms', '?')} "
        f"ms (submit p95 {results.get('rush_submit_p95_ms', '?')} ms), "
        f"**{results.get('rush_errors', '?')} errors** (submissions lost or doubled in the "
        f"database: {results.get('rush_lost_or_doubled', '?')}).",
        "",
        "## Aims",
        "",
        f"- p95 within {FLOOR_AIM}× the floor: "
        + (", ".join(missed_ratio) + " missed" if missed_ratio else "all pages"),
        "- same queries at both sizes: "
        + (", ".join(missed_queries) + " differ" if missed_queries else "all pages"),
        f"- weight under {WEIGHT_AIM_KB} KB (gzip): "
        + (", ".join(missed_weight) + " over" if missed_weight else "all pages"),
        "- floors without SQL: "
        + (", ".join(floor_queries) + " ran queries" if floor_queries else "all"),
        f"- zero errors in the rush: {'yes' if results.get('rush_errors') == 0 else 'no'}",
        "",
        "## Other benchmarks",
        "",
        "Their latest values in bench/results.json (each from the last run of its benchmark).",
        "",
        "| measurement | value |",
        "|---|---:|",
    ]
    for key, value in sorted(results.items()):
        if key.startswith(("assignment_", "ranking_", "enrol_")):
            lines.append(f"| {key} | {value} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main(sys.argv[1:])
