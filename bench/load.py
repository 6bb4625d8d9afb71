"""Load benchmark of the distributed arena: N concurrent page-like clients against a real stack on this machine.

Run from the repository root (PostgreSQL on 127.0.0.1:5432 as ``postgres`` and Redis on 127.0.0.1:6379 must be
running; everything stays on loopback)::

    OMP_NUM_THREADS=1 python -m bench.load --battles 50 100 200 [--record --label "..."]

It creates a fresh PostgreSQL database (``arena_load``, dropped again at the end) and migrates it, registers three
offline demo models (personas pelican, heron and ibis, ``delay`` seconds between chunks), and starts the distributed
processes of the Procfile: ``--web`` uvicorn processes (``config.asgi:application``, one port each) and one Celery
worker (``-Q default -P threads``, ``--concurrency`` threads), on Redis database 9 (flushed at the start and the end). There is
no beat process: nothing is swept, a stuck battle simply times out here.

For each N of ``--battles`` it starts N clients at once in one asyncio loop (httpx and ``websockets``), spread over
the web processes round-robin. Each does what static/arena/arena.js does: ``GET /`` (session and CSRF cookies),
``POST /api/battles`` with ``X-CSRFToken``, the websocket ``/ws/battles/<id>/`` with the session cookie and an Origin,
``GET /api/battles/<id>`` once subscribed, numbered chunks applied in order (a gap fetches the state again), a
reconnect with the page's back-off when the socket closes mid-battle, the page's 20-second watchdog fetch, then the
vote once both sides are done. Per N it reports battles completed (both sides done and the vote answered 201),
p50/p99 seconds from the POST to the first text and to both sides done, HTTP 5xx (websocket handshakes included),
socket drops (a socket closed before the battle finished), other client errors by kind, the peak number of
PostgreSQL connections to the database (``pg_stat_activity``, polled every 100 ms; in brackets, every database on
the server), the exceptions in the processes' logs, and the benchmark's own event-loop lag and CPU time, which show
whether the client was the bottleneck. ``--record`` writes the table into docs/benchmarks.md (section "Load:
concurrent battles on the distributed stack", one subsection per ``--label``). ``--commit REV`` runs the servers
from that commit's files (``git archive`` into a temporary folder) instead of the working tree, so that a commit can
be measured unchanged while the working tree moves on.

Every step is bounded (``--timeout`` per battle, ``--deadline`` for the whole run); the processes are stopped and
the database dropped on success, error, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import resource
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import psycopg

if not __package__:  # run as a script: put the repository root first, not this directory
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.load_page import battles_run
from bench.load_report import Peaks, Round, machine_read, report, run_section, section_record, table_row
from bench.load_stack import ROOT, Process, Stack, StackConfig, stack

BENCHMARKS_MD = ROOT / "docs" / "benchmarks.md"
POLL_SECONDS = 0.1
LOG_GRACE_SECONDS = 6.0  # after a round: a consumer's pending channel-layer read can fail up to 5 s after its socket closed
CLIENT_NICENESS = -5  # the clients stand for browsers on other machines: the servers' CPU use should not delay them


# ---- what else is measured during a round ------------------------------------------------------------------------


async def connections_poll(config: StackConfig, peaks: Peaks, stop: asyncio.Event) -> None:
    """Every POLL_SECONDS, the client connections to the benchmark's database and to the whole server."""
    query = ("SELECT count(*) FILTER (WHERE datname = %s), count(*) FROM pg_stat_activity "
             "WHERE backend_type = 'client backend'")
    try:
        async with await psycopg.AsyncConnection.connect(config.postgres, autocommit=True) as conn:
            while not stop.is_set():
                row = await (await conn.execute(query, (config.database,))).fetchone()
                if row is not None:
                    peaks.database, peaks.server = max(peaks.database, row[0]), max(peaks.server, row[1])
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), POLL_SECONDS)
    except psycopg.Error as exc:
        peaks.errors.append(f"{type(exc).__name__}: {exc}"[:120])


async def loop_lag(stop: asyncio.Event) -> float:
    """The longest the event loop was late to wake a 50 ms sleep: the client's own saturation."""
    worst = 0.0
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(0.05)
        worst = max(worst, time.perf_counter() - before - 0.05)
    return worst


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, all its threads."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


CHAIN = ("During handling of the above exception", "The above exception was the direct cause")
_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}|0x[0-9a-f]+", re.I)


def exception_lines(text: str) -> list[str]:
    """The final line of every traceback in a log (of a chain, only the last exception)."""
    found: list[str] = []
    in_traceback = chained = False
    for line in text.splitlines():
        if line.startswith("Traceback (most recent call last):"):
            in_traceback = True
        elif in_traceback and line.strip() and not line[0].isspace():
            if chained:
                found[-1] = line
            else:
                found.append(line)
            in_traceback = chained = False
        elif not in_traceback and line.startswith(CHAIN):
            chained = bool(found)
        elif not in_traceback and line.strip():
            chained = False
    return [_UUID.sub("…", line.strip())[:200] for line in found]


def logs_read(processes: Sequence[Process]) -> Counter[str]:
    """The exceptions each kind of process logged since the last call."""
    counts: Counter[str] = Counter()
    for process in processes:
        data = process.log.read_bytes()
        text, process.log_offset = data[process.log_offset:].decode(errors="replace"), len(data)
        kind = process.name.split("-")[0]
        counts.update(f"{kind}: {line}" for line in exception_lines(text))
    return counts


async def round_run(stack: Stack, n: int, *, timeout: float) -> Round:
    stop = asyncio.Event()
    peaks = Peaks()
    poller = asyncio.create_task(connections_poll(stack.config, peaks, stop))
    lag = asyncio.create_task(loop_lag(stop))
    webs = [p for p in stack.processes if p.name.startswith("web")]
    worker = next(p for p in stack.processes if p.name == "worker")
    cpu_before = self_cpu(), sum(cpu_seconds(p.popen.pid) for p in webs), cpu_seconds(worker.popen.pid)
    started = time.perf_counter()
    try:
        results = await battles_run(stack.urls, n, timeout=timeout)
    finally:
        wall = time.perf_counter() - started
        stop.set()
        await asyncio.gather(poller, return_exceptions=True)
    return Round(n, results, wall, peaks, await lag, self_cpu() - cpu_before[0],
                 sum(cpu_seconds(p.popen.pid) for p in webs) - cpu_before[1],
                 cpu_seconds(worker.popen.pid) - cpu_before[2], Counter(), os.getloadavg()[0])


async def settle(config: StackConfig, timeout: float) -> bool:
    """Wait until no answer is pending or streaming (a timed-out round leaves work behind); True if none is."""
    query = "SELECT count(*) FROM arena_answer WHERE status IN ('pending', 'streaming')"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            async with await psycopg.AsyncConnection.connect(config.database_url, autocommit=True) as conn:
                while time.monotonic() < deadline:
                    row = await (await conn.execute(query)).fetchone()
                    if row is not None and row[0] == 0:
                        return True
                    await asyncio.sleep(0.5)
        except psycopg.OperationalError:  # the server may still be out of connections
            await asyncio.sleep(0.5)
    return False


# ---- the command -----------------------------------------------------------------------------------------------


async def warm_up(stack: Stack, timeout: float) -> None:
    """One battle per web process, not reported: imports, first queries and the worker's first tasks."""
    results = await battles_run(stack.urls, len(stack.urls), timeout=timeout)
    failed = [r for r in results if not r.completed]
    if failed:
        raise RuntimeError(f"the warm-up battles failed: {failed}")


def client_priority() -> None:
    """Run the clients ahead of the servers (they share this machine's cores); the servers keep their priority."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, CLIENT_NICENESS)


async def rounds_run(stack: Stack, counts: Sequence[int], *, timeout: float, deadline: float) -> list[Round]:
    client_priority()
    await warm_up(stack, timeout)
    rounds: list[Round] = []
    for n in counts:
        left = deadline - time.monotonic() - 30  # keep time to stop the processes and drop the database
        if left < 20:
            print(f"skipping {n} battles: the global deadline is near", file=sys.stderr)
            break
        print(f"{n} concurrent battles …", file=sys.stderr, flush=True)
        result = await round_run(stack, n, timeout=min(timeout, left))
        if not await settle(stack.config, min(60.0, max(deadline - time.monotonic() - 30, 1))):
            print("  some answers were still open after the round", file=sys.stderr)
        await asyncio.sleep(LOG_GRACE_SECONDS)
        result.logged = logs_read(stack.processes)
        result.exited = [f"{p.name} (exit {p.popen.returncode})" for p in stack.processes if p.popen.poll() is not None]
        print(f"  {table_row(result)}", file=sys.stderr, flush=True)
        rounds.append(result)
    return rounds


def commit_export(revision: str, scope: contextlib.ExitStack) -> Path:
    """A throw-away copy of one commit's files (``git archive``; the repository is left alone)."""
    target = Path(scope.enter_context(tempfile.TemporaryDirectory(prefix="arena-load-code-")))
    archive = subprocess.run(["git", "archive", "--format=tar", revision], cwd=ROOT, capture_output=True, timeout=60,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, timeout=60, check=True)
    return target


def commit_name(revision: str) -> str:
    result = subprocess.run(["git", "rev-parse", "--short", revision], cwd=ROOT, capture_output=True, text=True,
                            timeout=10, check=False)
    return result.stdout.strip() or revision


def files_limit_raise() -> None:
    """Two sockets per battle, and the processes inherit the limit: raise the open-file limit to the maximum."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _interrupted(signum: int, frame: object) -> None:
    raise SystemExit(f"bench.load: stopped by signal {signum}")


def _deadline_passed(signum: int, frame: object) -> None:
    raise SystemExit("bench.load: the global deadline passed; stopping")


def arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--battles", type=int, nargs="+", default=[50, 100, 200], help="concurrent battles per round")
    parser.add_argument("--web", type=int, default=2, help="uvicorn processes")
    parser.add_argument("--concurrency", type=int, default=32, help="Celery worker threads (the Procfile's default)")
    parser.add_argument("--delay", type=float, default=0.03, help="demo models: seconds between chunks")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds one battle may take")
    parser.add_argument("--deadline", type=float, default=900.0, help="seconds the whole run may take")
    parser.add_argument("--database", default="arena_load")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--postgres", default=StackConfig.postgres, help="an administrative PostgreSQL URL")
    parser.add_argument("--commit", help="run the server processes from this commit (git archive), not the working tree")
    parser.add_argument("--logs", type=Path, help="copy the processes' logs into this folder")
    parser.add_argument("--record", action="store_true", help="write the table into docs/benchmarks.md")
    parser.add_argument("--label", default="Latest run", help="the subsection --record writes (replaced if present)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = arguments(argv)
    deadline = time.monotonic() + args.deadline
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGALRM, _deadline_passed)
    signal.alarm(int(args.deadline) + 60)  # the last resort, should a step hang past its own timeout
    files_limit_raise()
    config = StackConfig(postgres=args.postgres, database=args.database, redis_url=args.redis, web=args.web,
                         concurrency=args.concurrency, delay=args.delay)
    machine = asyncio.run(machine_read(config))
    when = datetime.now(UTC)
    try:
        with contextlib.ExitStack() as scope:
            if args.commit:
                config = replace(config, app=commit_export(args.commit, scope))
            running = scope.enter_context(stack(config, keep_logs=args.logs))
            rounds = asyncio.run(rounds_run(running, args.battles, timeout=args.timeout, deadline=deadline))
    finally:
        signal.alarm(0)
    body = report(rounds)
    print(f"\n{machine.describe()}\n\n{body}")
    if args.record:
        command = "OMP_NUM_THREADS=1 python -m bench.load " + shlex.join(sys.argv[1:] if argv is None else argv)
        code = f"commit {commit_name(args.commit)}" if args.commit else "the working tree"
        subsection = run_section(args.label, machine, config, command, body, when, code)
        BENCHMARKS_MD.write_text(section_record(BENCHMARKS_MD.read_text(), args.label, subsection))
        print(f"\nrecorded in {BENCHMARKS_MD.relative_to(ROOT)} under “{args.label}”")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("bench.load: interrupted; the processes were stopped and the database dropped")
