"""Benchmark: a 10,000-row maturity table read and written into a fresh SQLite book.

Run from the project root:

    .venv/bin/python -m tests.benchmarks.bench_import_db [rows]

It writes a bank-style workbook (the one :mod:`tests.benchmarks.bench_import` builds), then
times what /import does after the download: ``read_policy_table`` and
``storage.policies.import_policies`` in one transaction, on a new SQLite file with the
migrations applied. It imports the same file a second time (which must change nothing) and
prints the times, the counts and the process's peak memory. Goals: under 10 s and under
300 MB for the first import.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path

from bot.importer import read_policy_table
from storage import policies
from storage.db import Database
from storage.migrate import upgrade_async
from storage.models import Agent
from tests.benchmarks.bench_import import build_workbook

GOAL_SECONDS = 10.0
GOAL_MEGABYTES = 300.0


def _peak_rss_mb() -> float:
    """Return the process's peak resident memory so far (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _import_once(db: Database, agent_id: int, content: bytes) -> tuple[float, float, str]:
    """Read and write the table once; return the read time, the write time and the counts."""
    started = time.perf_counter()
    read = read_policy_table("bench.xlsx", content)
    read_done = time.perf_counter()
    async with db.session() as session:
        counts = await policies.import_policies(session, agent_id, read.rows)
    written = time.perf_counter()
    summary = (
        f"{read.rows_read} read, {counts.added} added, {counts.updated} updated, "
        f"{counts.unchanged} unchanged, {len({p.row_number for p in read.rejected})} rejected, "
        f"{counts.clients_added} new clients"
    )
    return read_done - started, written - read_done, summary


async def run(rows: int, folder: Path) -> bool:
    """Run the benchmark in ``folder``; print the figures and tell whether the goals were met."""
    url = f"sqlite+aiosqlite:///{folder / 'bench.db'}"
    await upgrade_async(url)
    db = Database(url)
    async with db.session() as session:
        agent = Agent(telegram_id=1, name="bench", onboarded=True)
        session.add(agent)
    content = build_workbook(rows)
    baseline = _peak_rss_mb()

    read_s, write_s, summary = await _import_once(db, agent.id, content)
    peak = _peak_rss_mb()
    again_read, again_write, again_summary = await _import_once(db, agent.id, content)
    await db.close()

    total = read_s + write_s
    print(f"rows in file:        {rows} ({len(content) / 1024:.0f} KiB xlsx)")
    print(f"first import:        {summary}")
    print(f"  read:              {read_s:.2f} s")
    print(f"  write (one txn):   {write_s:.2f} s")
    print(f"  total:             {total:.2f} s (goal < {GOAL_SECONDS:.0f} s)")
    print(f"re-import:           {again_summary}")
    print(f"  read + write:      {again_read:.2f} s + {again_write:.2f} s")
    print(f"peak RSS, process:   {peak:.0f} MB (goal < {GOAL_MEGABYTES:.0f} MB)")
    print(f"  of which import:   {peak - baseline:.0f} MB above the state before it")
    return total < GOAL_SECONDS and peak < GOAL_MEGABYTES


def main() -> int:
    """Run with a temporary database; exit 1 when a goal is missed."""
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    with tempfile.TemporaryDirectory() as folder:
        met = asyncio.run(run(rows, Path(folder)))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
