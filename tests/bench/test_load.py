"""bench/load.py: its page logic and report on their own, then two battles through the real stack it starts."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from typing import Any

import pytest

from bench import load, load_page, load_report, load_stack
from tests.conftest import service_missing


def state(**answers: dict[str, Any]) -> dict[str, Any]:
    return {"id": "b1", "status": "generating", "turns": [{"index": 1, "answers": answers}]}


def pending() -> dict[str, Any]:
    return {"status": "pending", "text": "", "seq": 0, "error": ""}


def chunk(side: str, seq: int, text: str) -> dict[str, Any]:
    return {"type": "chunk", "turn": 1, "side": side, "seq": seq, "text": text}


def done(side: str, text: str, battle_status: str = "generating") -> dict[str, Any]:
    return {"type": "side_done", "turn": 1, "side": side, "status": "done", "text": text, "error": "",
            "battle_status": battle_status}


def test_the_page_applies_numbered_chunks_once_and_asks_for_the_state_after_a_gap() -> None:
    page = load_page.Page(state(a=pending(), b=pending()))
    assert page.apply(chunk("a", 1, "Hel")) and page.apply(chunk("a", 2, "lo"))
    assert page.apply(chunk("a", 2, "lo")), "a repeated chunk is ignored"
    assert page.text_seen and not page.done
    assert not page.apply(chunk("b", 2, "late")), "chunk 1 of b is missing: fetch the state"
    assert page.apply(done("a", "Hello")) and page.apply(done("b", "Hi there"))
    assert page.done and not page.finished, "both sides closed, but the battle has not moved on yet"
    page.apply(done("b", "Hi there", "ready"))
    assert page.finished and page.state["status"] == "ready" and page.lost_text == 0


def test_the_page_notices_streamed_text_that_differs_from_the_final_answer() -> None:
    page = load_page.Page(state(a=pending(), b=pending()))
    page.apply(chunk("a", 1, "Hel"))
    page.apply(done("a", "Hello"))
    assert page.lost_text == 1


def test_percentiles_are_nearest_rank() -> None:
    values = [float(i) for i in range(1, 101)]
    assert load_report.percentile(values, 50) == 50 and load_report.percentile(values, 99) == 99
    assert load_report.percentile(values[:50], 99) == 50
    assert load_report.percentile([], 50) is None


def test_log_exceptions_are_the_last_of_each_chain() -> None:
    log = "\n".join([
        "ERROR:    Exception in ASGI application", "Traceback (most recent call last):", '  File "x.py", line 1',
        "channels.exceptions.StopConsumer", "", "During handling of the above exception, another exception occurred:",
        "", "Traceback (most recent call last):", '  File "y.py", line 2', "    read()",
        "redis.exceptions.TimeoutError: Timeout reading from 127.0.0.1:6379",
        "Traceback (most recent call last):", '  File "z.py", line 3',
        'psycopg.OperationalError: FATAL:  sorry, too many clients already',
    ])
    assert load.exception_lines(log) == ["redis.exceptions.TimeoutError: Timeout reading from 127.0.0.1:6379",
                                         "psycopg.OperationalError: FATAL:  sorry, too many clients already"]


def test_recording_adds_the_section_then_replaces_only_its_own_run() -> None:
    doc = "# Benchmarks\n\n## Ratings engine\n\ntext\n"
    first = load_report.section_record(doc, "Baseline", "### Baseline\n\nold table\n")
    section, intro = load_report.SECTION, load_report.INTRO
    assert first.startswith(doc) and first.endswith(f"{section}\n\n{intro}\n\n### Baseline\n\nold table\n")
    second = load_report.section_record(first.replace(intro, "an outdated introduction"), "After", "### After\n\nnew\n")
    third = load_report.section_record(second + "\n## Later section\n\nmore\n", "Baseline", "### Baseline\n\nnewer\n")
    assert third.count(load_report.SECTION) == 1 and "old table" not in third and "outdated" not in third
    assert third.index("### Baseline\n\nnewer") < third.index("### After\n\nnew"), "a replaced run keeps its place"
    assert third.startswith(doc) and third.endswith("### After\n\nnew\n\n## Later section\n\nmore\n")


def test_a_round_reports_completions_errors_and_drops() -> None:
    ok = load_page.BattleResult(completed=True, first_text=0.5, done=2.0)
    broken = load_page.BattleResult(server_errors=["POST /api/battles: 500"], drops=["close code 1006"],
                              silences=[5.2])
    result = load_report.Round(2, [ok, broken], 3.0, load_report.Peaks(7, 9), 0.01, 1.0, 2.0, 3.0, Counter(), 0.5)
    row = load_report.table_row(result)
    assert row.startswith("| 2 | 1 | 0.50 / 0.50 | 2.00 / 2.00 | 1 | 1 | 0 | 7 (9) |")
    notes = load_report.round_notes(result)
    assert "1× POST /api/battles: 500" in notes and "1× close code 1006, 5–5 s after the socket's last message" in notes


def services_present(config: load_stack.StackConfig) -> None:
    import psycopg
    import redis

    try:
        psycopg.connect(config.postgres, connect_timeout=3).close()
        redis.Redis.from_url(config.redis_url, socket_timeout=3).ping()
    except (psycopg.Error, redis.RedisError) as exc:
        service_missing(f"the load benchmark needs PostgreSQL and Redis on 127.0.0.1 ({exc})")


@pytest.mark.distributed
def test_two_battles_complete_through_the_stack_the_benchmark_starts() -> None:
    config = load_stack.StackConfig(database=f"arena_load_test_{os.getpid()}", redis_url="redis://127.0.0.1:6379/10",
                              web=2, concurrency=4, delay=0.005, startup_timeout=60)
    services_present(config)
    started = time.monotonic()
    with load_stack.stack(config) as running:
        results = asyncio.run(load_page.battles_run(running.urls, 2, timeout=30))
        logged = load.logs_read(running.processes)
    assert [r.completed for r in results] == [True, True], results
    assert not [kind for r in results for kind in r.server_errors + r.errors + r.drops]
    assert all(r.first_text is not None and r.done is not None and r.first_text <= r.done for r in results)
    assert not logged, logged
    assert time.monotonic() - started < 60
