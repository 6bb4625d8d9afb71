"""bench/load.py's report: the table, the notes per round and the section of docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
import redis.asyncio as aioredis

from bench.load_page import BattleResult
from bench.load_stack import StackConfig

SECTION = "## Load: concurrent battles on the distributed stack"


@dataclass
class Peaks:
    database: int = 0
    server: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class Round:
    battles: int
    results: list[BattleResult]
    wall: float
    peaks: Peaks
    lag: float
    bench_cpu: float
    web_cpu: float
    worker_cpu: float
    logged: Counter[str]
    load: float
    exited: list[str] = field(default_factory=list)

    def completed(self) -> int:
        return sum(r.completed for r in self.results)

    def kinds(self, attribute: str) -> Counter[str]:
        return Counter(kind for r in self.results for kind in getattr(r, attribute))


# ---- the report ------------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(-(-q * len(ordered) // 100)) - 1))]


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _pair(values: Sequence[float]) -> str:
    return f"{_seconds(percentile(values, 50))} / {_seconds(percentile(values, 99))}"


TABLE_HEAD = ("| battles | completed | first text p50 / p99 (s) | both done p50 / p99 (s) | HTTP 5xx | socket drops "
              "| other errors | peak PG connections: arena_load (server) | wall (s) |\n"
              "|---|---|---|---|---|---|---|---|---|")


def table_row(r: Round) -> str:
    first = [x.first_text for x in r.results if x.first_text is not None]
    done = [x.done for x in r.results if x.done is not None]
    return (f"| {r.battles} | {r.completed()} | {_pair(first)} | {_pair(done)} | {sum(r.kinds('server_errors').values())} "
            f"| {sum(r.kinds('drops').values())} | {sum(r.kinds('errors').values())} "
            f"| {r.peaks.database} ({r.peaks.server}) | {r.wall:.1f} |")


def _counted(counts: Counter[str], limit: int = 6) -> str:
    if not counts:
        return "none"
    shown = [f"{n}× {kind}" for kind, n in counts.most_common(limit)]
    rest = sum(counts.values()) - sum(n for _, n in counts.most_common(limit))
    return "; ".join(shown) + (f"; {rest} more" if rest else "")


def _drops(r: Round) -> str:
    silences = [s for x in r.results for s in x.silences]
    if not silences:
        return "none"
    return f"{_counted(r.kinds('drops'))}, {min(silences):.0f}–{max(silences):.0f} s after the socket's last message"


def round_notes(r: Round) -> str:
    resyncs = sum(x.resyncs for x in r.results)
    lines = [
        f"- **{r.battles} battles.** 5xx: {_counted(r.kinds('server_errors'))}. Socket drops: {_drops(r)}."
        f" Other errors: {_counted(r.kinds('errors'))}. Fetches after a gap in the chunks: {resyncs}.",
        f"  Exceptions in the logs: {_counted(r.logged, 4)}.",
        f"  CPU seconds: web {r.web_cpu:.1f}, worker {r.worker_cpu:.1f}, this client {r.bench_cpu:.1f}"
        f" (its event loop at most {r.lag * 1000:.0f} ms late); load average after: {r.load:.1f}.",
    ]
    if r.exited:
        lines.append(f"  Processes that exited during the round: {', '.join(r.exited)}.")
    if r.peaks.errors:
        lines.append(f"  The connection poll stopped: {', '.join(r.peaks.errors)}.")
    return "\n".join(lines)


def report(rounds: Sequence[Round]) -> str:
    return "\n".join([TABLE_HEAD, *(table_row(r) for r in rounds), "", *(round_notes(r) for r in rounds)])


@dataclass
class Machine:
    postgres: str = ""
    max_connections: str = ""
    redis: str = ""
    load: float = 0.0

    def describe(self) -> str:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        return (f"{os.cpu_count()} {platform.machine()} cores, {memory:.0f} GB RAM, Python {platform.python_version()}, "
                f"PostgreSQL {self.postgres} (max_connections {self.max_connections}, shared with whatever else runs "
                f"there), Redis {self.redis}; load average {self.load:.1f} at the start")


async def machine_read(config: StackConfig) -> Machine:
    async with await psycopg.AsyncConnection.connect(config.postgres, autocommit=True) as conn:
        version = await (await conn.execute("SHOW server_version")).fetchone()
        limit = await (await conn.execute("SHOW max_connections")).fetchone()
    client = aioredis.Redis.from_url(config.redis_url)
    try:
        info = await client.info("server")
    finally:
        await client.aclose()
    return Machine(str(version[0]) if version else "?", str(limit[0]) if limit else "?",
                   str(info.get("redis_version", "?")), os.getloadavg()[0])


INTRO = """`bench/load.py` starts the distributed stack on one machine, loopback only: a fresh PostgreSQL
database (migrated, dropped at the end), `uvicorn config.asgi:application` web processes on their own ports, one
`celery -A config worker -Q default -P threads` worker, Redis for the channel layer, the broker and the cache, and
three offline demo models (pelican, heron, ibis; a fixed delay between chunks, so that one side streams for two to
four seconds). No beat process runs, so nothing sweeps a stuck answer: its page waits until the benchmark's
per-battle timeout. The application's settings are its defaults (`DB_CONN_MAX_AGE=0`; a leaderboard refresh every
50 counted votes, on the same worker), except for the prompt rate limit, lifted. For each N it starts N page-like
clients at once in one asyncio loop (httpx and `websockets`), round-robin over the web processes; each does what
`static/arena/arena.js` does: `GET /`, `POST /api/battles` with the CSRF header, the websocket with the session
cookie and an Origin, `GET` of the battle once subscribed, numbered chunks applied in order (a gap fetches the state
again), the page's reconnect back-off (0.5 s doubling to 8 s) when the socket closes mid-battle and its 20-second
watchdog fetch, then the vote. Each battle holds two worker threads while it streams, so with C threads about C/2
battles stream at once and the rest wait in the queue: beyond a few dozen battles, most of the time to the first
text is that queue.

*Completed* means both sides done and the vote answered 201. Times are from the `POST` to the first answer text on
the page and to both sides done (p99 is the nearest rank: at 50 battles, the slowest one). *HTTP 5xx* include
websocket handshakes answered 500; *socket drops* are sockets closed before the battle finished (1006: closed
without a close frame; the client then reconnects, so one battle can drop more than once). PostgreSQL connections
are sampled every 100 ms in `pg_stat_activity` (client backends of the benchmark's database; in brackets, of the
whole server, whose `max_connections` other work on the machine shares), so a spike shorter than that can be
missed: "too many clients" errors mean the limit was reached whatever the sample says. The exceptions are the last
line of each traceback in the processes' logs. The client runs at a higher CPU priority than the servers (they share
the machine's cores, where real browsers would not); its CPU time and event-loop lag show whether it, rather than
the arena, was the bottleneck."""


def run_section(label: str, machine: Machine, config: StackConfig, command: str, body: str, when: datetime,
                code: str) -> str:
    return (f"### {label}\n\n"
            f"Run of {when:%H:%M} UTC, {when:%Y-%m-%d}; {machine.describe()}. Stack: {config.web} uvicorn "
            f"processes, one Celery worker with {config.concurrency} threads, demo delay {config.delay} s between "
            f"chunks; server code: {code}. Command (from the repository root):\n\n```\n{command}\n```\n\n{body}\n")


def subsections(lines: Sequence[str]) -> list[str]:
    """The ``### `` subsections of a section's lines, each as text; what comes before the first is left out."""
    starts = [i for i, line in enumerate(lines) if line.startswith("### ")]
    return ["\n".join(lines[a:b]).strip("\n") for a, b in zip(starts, [*starts[1:], len(lines)], strict=False)]


def section_record(doc: str, label: str, subsection: str) -> str:
    """The document with the load section's introduction brought up to date and the run's subsection replaced (same
    label) or added; the other runs and the rest of the document are kept."""
    lines = doc.rstrip("\n").split("\n")
    start = lines.index(SECTION) if SECTION in lines else len(lines)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    runs = subsections(lines[start + 1:end])
    heading = f"### {label}"
    mine = [i for i, run in enumerate(runs) if run.split("\n", 1)[0] == heading]
    if mine:
        runs[mine[0]] = subsection.strip("\n")
    else:
        runs.append(subsection.strip("\n"))
    text = "\n\n".join(["\n".join(lines[:start]).rstrip("\n"), SECTION, INTRO, *runs]) + "\n"
    return text + ("\n" + "\n".join(lines[end:]) + "\n" if end < len(lines) else "")
