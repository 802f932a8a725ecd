"""Export benchmark: every format of the dataset export (CSV, ODM, XPT, SAV, DTA) against PostgreSQL
``COPY`` of the same queries, at a few trial sizes, each format in its own process so the memory it
adds is its own. Writes the section "Export: all five formats" of bench/RESULTS.md. Not part of
``make test``; reuses the trials ``bench/run.py`` builds (BENCH_REUSE=1 keeps them).

    BENCH_EXPORT_BENCH_SIZES=90,300,900 BENCH_EXPORT_REPEATS=3 python bench/export_bench.py
"""

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from run import build, measure  # noqa: E402  (the bench's own helpers, beside this file)

FORMATS = ("csv", "odm", "xpt", "sav", "dta")
SIZES = [int(n) for n in os.environ.get("BENCH_EXPORT_BENCH_SIZES", "90,300,900").split(",") if n.strip()]
# Each format measured this many times, each time against a COPY measured just before it: on a shared
# machine one run can differ from the next by a factor of 1.8 (3 Dec 2026), so the figure is the
# median of the ratios, with their range beside it.
REPEATS = int(os.environ.get("BENCH_EXPORT_REPEATS", "3"))
MARK = "## Export: all five formats"


def main() -> None:
    results = {}
    for size in SIZES:
        db = build(size)
        # COPY once unmeasured first: the first read of a trial just built or reused comes from disk,
        # and a cold floor flattered the ratios (3 Dec 2026: 1.27 s cold, 0.42-0.48 s warm at 1,000).
        measure(db, "copy_time")
        for _repeat in range(REPEATS):
            copy = measure(db, "copy_time")  # the floor of this round, just before its five runs
            for fmt in FORMATS:
                os.environ["BENCH_FORMAT"] = fmt
                ex = measure(db, "export_format_time")
                results.setdefault((size, fmt), []).append((ex, copy[fmt]))
                print(f"  {size} {fmt}: {ex['seconds']:.2f} s, COPY {copy[fmt]['seconds']:.3f} s", flush=True)
        write(results)  # after each size: a long run stopped early keeps what it measured


def _kept_rows(text: str, measured: set[int]) -> list[tuple[int, str, str]]:
    """The rows of the section already written for sizes this run did not measure (a long size can be
    run on its own: BENCH_EXPORT_BENCH_SIZES=10000), in this table's layout only."""
    section = text.split(MARK, 1)[1].split("\n## ", 1)[0] if MARK in text else ""
    kept = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 9 and cells[0].isdigit() and int(cells[0]) not in measured:
            kept.append((int(cells[0]), cells[1].lower(), line))
    return kept


def write(results: dict) -> None:
    path = ROOT / "bench" / "RESULTS.md"
    text = path.read_text()
    kept = _kept_rows(text, {size for size, _fmt in results})
    sizes = sorted({size for size, _fmt in results} | {size for size, _fmt, _line in kept})
    lines = [
        MARK,
        "",
        f"`bench/export_bench.py` at {', '.join(map(str, sizes))} patients. Each format alone in a fresh process "
        "against PostgreSQL `COPY (…) TO STDOUT` of the queries it runs, measured at the start of each round "
        "(XPT, SAV and DTA read the CSV's tables); memory = the process's high-water mark added by the export "
        "(the largest of the runs). Each format run several times (BENCH_EXPORT_REPEATS): the ratio is "
        "the median of the runs' ratios, "
        "their range beside it; seconds are the median run's. Target: within 5× of COPY, memory flat across sizes.",
        "",
        "| patients | format | rows | MB written | seconds | COPY seconds | ratio (median) | ratio range "
        "| memory added MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    rows = [(size, fmt, line) for size, fmt, line in kept]
    for (size, fmt), runs in results.items():
        ratios = sorted(((ex["seconds"] / max(cp["seconds"], 1e-6), ex, cp) for ex, cp in runs), key=lambda r: r[0])
        ratio, ex, cp = ratios[len(ratios) // 2]
        memory = max(e["peak_mb"] - e["baseline_mb"] for e, _c in runs)
        rows.append(
            (
                size,
                fmt,
                f"| {size} | {fmt.upper()} | {ex['rows']} | {ex['bytes'] / 1e6:.1f} | {ex['seconds']:.2f} | "
                f"{cp['seconds']:.3f} | **{ratio:.1f}×** | {ratios[0][0]:.1f}–{ratios[-1][0]:.1f}× | {memory:.0f} |",
            )
        )
    lines += [line for _size, _fmt, line in sorted(rows, key=lambda r: (r[0], FORMATS.index(r[1])))]
    section = "\n".join(lines) + "\n"
    if MARK in text:
        text = re.sub(rf"{re.escape(MARK)}.*?(?=\n## |\Z)", section.rstrip("\n") + "\n", text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)
    print(section)


if __name__ == "__main__":
    main()
