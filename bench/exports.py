"""Benchmark of the battle import and the streaming battle export, on a throw-away SQLite database.

Run from the repository root::

    OMP_NUM_THREADS=1 python -m bench.exports [--battles 200000]

It imports the bundled LLMFAO file, data/llmfao_battles.json (LLMFAO, Dmitry Ustalov; base responses from the llmonitor.com
Crowdsourced LLM Benchmark; CC BY 4.0) with ``battles_import``, then generates voted battles with
``bulk_create`` and times ``/exports/battles.jsonl``'s generator over all of them (lines per
second, median of three runs). Peak Python memory of the export is measured with ``tracemalloc``
in separate, untimed passes over a tenth of the battles and over all of them: equal peaks mean
constant memory.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

if not __package__:  # run as a script: put the repository root first, not this directory
    sys.path[0] = str(Path(__file__).resolve().parents[1])

ROOT = Path(__file__).resolve().parents[1]


def setup(data_dir: str) -> None:
    os.environ["ARENA_DATA_DIR"] = data_dir
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def generate(n: int, start: int) -> None:
    from django.utils import timezone

    from arena.models import ArenaModel, Battle, Vote

    models = [ArenaModel.objects.get_or_create(name=f"bench-{i}", defaults={"state": "paused"})[0] for i in range(20)]
    now = timezone.now()
    for offset in range(start, start + n, 20000):
        size = min(20000, start + n - offset)
        battles = Battle.objects.bulk_create([
            Battle(model_a=models[i % 20], model_b=models[(i % 20 + 1 + (i // 20) % 19) % 20], status="voted",
                   session_key=f"s{i % 5000}", ip_hash=f"ip{i % 5000}", created_at=now - timedelta(seconds=i))
            for i in range(offset, offset + size)])
        Vote.objects.bulk_create([Vote(battle=b, outcome="ab"[i % 2], counts=True, session_key=b.session_key,
                                       ip_hash=b.ip_hash, created_at=b.created_at) for i, b in enumerate(battles)])


def export_size() -> tuple[int, int]:
    from leaderboard.exports import all_battle_lines

    lines = size = 0
    for line in all_battle_lines():
        lines, size = lines + 1, size + len(line)
    return lines, size


def peak(run: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        setup(data_dir)
        from arena.imports import battles_import

        llmfao = ROOT / "data" / "llmfao_battles.json"
        started = time.perf_counter()
        summary = battles_import(llmfao, source="llmfao")
        imported = time.perf_counter() - started
        tenth = max(args.battles // 10 - summary.created, 0)
        generate(tenth, 0)
        export_size()  # warm up: first queries, imports and caches are not the export's memory
        small_lines, _ = export_size()
        small = peak(export_size)
        generate(args.battles - summary.created - tenth, tenth)
        large = peak(export_size)
        times = []
        for _ in range(3):
            started = time.perf_counter()
            lines, size = export_size()
            times.append(time.perf_counter() - started)
        median = statistics.median(times)
    print(f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, SQLite")
    print("| measure | value |\n|---|---|")
    print(f"| import LLMFAO ({summary.created:,} battles) | {imported:.2f} s ({summary.created / imported:,.0f}/s) |")
    print(f"| export {lines:,} battles ({size / 1e6:.0f} MB of JSON lines) | {median:.2f} s "
          f"({lines / median:,.0f} lines/s) |")
    print(f"| export peak Python memory, {small_lines:,} battles | {small / 1e6:.1f} MB |")
    print(f"| export peak Python memory, {lines:,} battles | {large / 1e6:.1f} MB |")


if __name__ == "__main__":
    main()
