"""Benchmark: how long reading a 10,000-row maturity table takes, and how much memory.

Run from the project root:

    .venv/bin/python -m tests.benchmarks.bench_import [rows]

It writes a workbook shaped like a bank export (title rows, Chinese headers, real date
cells, numeric phones, a few bad rows), then times ``read_policy_table`` on it and reports
the peak memory of the read (Python heap and process RSS). The goal is under 10 s and under 300 MB.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import resource
import sys
import time
import tracemalloc

import openpyxl

from bot.importer import read_policy_table
from tests.harness import MATURITY_HEADER_ZH

GOAL_SECONDS = 10.0
GOAL_MEGABYTES = 300.0
HEADER = list(MATURITY_HEADER_ZH)


def build_workbook(rows: int, seed: int = 7) -> bytes:
    """Write a bank-style maturity table with ``rows`` policies and return its bytes."""
    rng = random.Random(seed)
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("满期保单明细")
    sheet.append(["满期保单明细表"])
    sheet.append(["导出日期", dt.date(2026, 6, 1)])
    sheet.append(HEADER)
    surnames, given = "王李张刘陈杨黄赵吴周", "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"
    for number in range(1, rows + 1):
        effective = dt.date(2016, 1, 1) + dt.timedelta(days=rng.randrange(3650))
        holder = rng.choice(surnames) + rng.choice(given) + rng.choice(given)
        row: list[object] = [
            number,
            rng.choice(["工商银行", "建设银行", "农业银行", "中国银行"]) + "城西支行",
            f"P{2016000000 + number}",
            rng.choice(["鑫享年金", "福满两全", "安康终身寿"]),
            rng.choice([10000, 20000, 50000, 100000]),
            f"{rng.randrange(2, 60)}万",
            effective,
            dt.date(effective.year + 10, effective.month, min(effective.day, 28)),
            holder,
            holder if rng.random() < 0.5 else rng.choice(surnames) + rng.choice(given),
            f"杭州市西湖区文三路 {rng.randrange(1, 999)} 号",
            f"0571-8{rng.randrange(1000000, 9999999)}",
            int(f"13{rng.randrange(5, 10)}{rng.randrange(10_000_000, 99_999_999)}"),
            "",
        ]
        if number % 500 == 0:
            row[7] = "2026-02-30"  # a few bad rows, as real exports have
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def main() -> int:
    """Build the workbook, time the read, print the figures; exit 1 if a goal is missed."""
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    content = build_workbook(rows)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    # Timed without tracemalloc, which slows Python code down severalfold.
    started = time.perf_counter()
    read = read_policy_table("bench.xlsx", content)
    elapsed = time.perf_counter() - started
    # ru_maxrss is in KiB on Linux; the growth covers calamine's own (untraced) memory.
    rss_growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024

    tracemalloc.start()
    read_policy_table("bench.xlsx", content)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    traced = peak / (1024 * 1024)

    print(f"file size:        {len(content) / 1024:.0f} KiB")
    print(
        f"rows read:        {read.rows_read} ({len(read.rows)} accepted, "
        f"{len(read.rejected)} problems)"
    )
    print(f"time:             {elapsed:.2f} s (goal < {GOAL_SECONDS:.0f} s)")
    print(f"peak Python heap: {traced:.1f} MB (tracemalloc)")
    print(f"peak RSS growth:  {rss_growth:.1f} MB (getrusage; goal < {GOAL_MEGABYTES:.0f} MB)")
    worst = max(traced, rss_growth)
    return 0 if elapsed < GOAL_SECONDS and worst < GOAL_MEGABYTES else 1


if __name__ == "__main__":
    sys.exit(main())
