"""Benchmark of the leaderboard refresh at scale, on a throw-away PostgreSQL database.

Run from the repository root (20 to 30 minutes on a shared 2-core machine; PostgreSQL on 127.0.0.1:5432, user
postgres, trust auth)::

    OMP_NUM_THREADS=1 python -m bench.refresh            # 1,000,000 then 5,000,000 votes among 300 models

It creates the database ``arena_refresh_bench`` (``--database``), migrates it, and fills it with
set-based SQL (``generate_series`` over seeded ``random()``; nothing goes through the ORM row by
row): skewed model popularity (``1/rank^1.1``, as bench/ratings.py), Bradley–Terry outcomes with
about 20% ties and 5% "both bad", 3% side-by-side votes, 7% votes cast too fast, 5% imported votes
with no timing and no address, a few busy addresses over the daily cap, 1% failed battles, follow-up
turns, long prompts, code, eleven first-prompt languages, and style counts on every answer (1% of
battles with one answer lacking them). The timeline runs one vote every few seconds over months,
so addresses vote across UTC midnights.

At each size it runs ``snapshot_refresh`` (every view, the configured rounds, the method of
``ARENA_LEADERBOARD_METHOD``), each time in a fresh child process: first after the fill (it sums
the style counts of the new battles, :func:`leaderboard.counting.battle_styles_fill`, and judges
their votes into the ledger, ``leaderboard/tallies.py``: at the first size, every vote from
scratch), then again with nothing new (the steady state), then, with ``--before DIR``, the refresh
of another checkout's code on the same votes (the comparison in the same run), and last after
``--new-votes`` more battles (default 10,000) are added with the indexes in place, as a live
arena's votes arrive since its last refresh. It reports the wall and
CPU time of each (the CPU time of the refreshing process only, not of the PostgreSQL server) and the process's peak
resident memory (``ru_maxrss`` of that child, which includes Python, Django and NumPy, measured by the child itself),
with its resident memory just before the refresh for comparison. It also says how much of the wall time was the
engine's fits (``compute_leaderboard``, timed around each call) and the peak resident memory inside those fits and
outside them (sampled every 5 ms; see :class:`Meter`): the rest is the counting in the database and the writing.
At the first size it also times the previous implementation in the same way: every
vote read into ``VoteRow`` objects, ``rules.judged`` in Python, lists per view
(:func:`baseline_refresh`, assembled from the reference functions that the tests keep). The
database is dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

if not __package__:  # run as a script: put the repository root first, not this directory
    sys.path[0] = str(Path(__file__).resolve().parents[1])

ROOT = Path(__file__).resolve().parents[1]
LANGUAGES = (("en", 0.52), ("zh", 0.12), ("ru", 0.06), ("es", 0.05), ("de", 0.04), ("fr", 0.04), ("ja", 0.04),
             ("ko", 0.03), ("pt", 0.03), ("it", 0.03), ("und", 0.02), ("", 0.02))
START = "2026-01-01 00:00:00+00"
SECONDS_PER_VOTE = 3.0  # 28,800 votes a day


# ---- the database -------------------------------------------------------------------------------------------------


def database_url(admin: str, name: str) -> str:
    return urlsplit(admin)._replace(path="/" + name).geturl()


def database_reset(admin: str, name: str, *, create: bool) -> None:
    """Drop the benchmark's database (a leftover of a killed run too) and, if asked, create it empty."""
    import psycopg

    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            conn.execute(f'CREATE DATABASE "{name}"')


def child_env(url: str, args: argparse.Namespace) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARENA_", "DATABASE_URL", "REDIS_URL", "DB_"))}
    env.update(DATABASE_URL=url, DJANGO_SETTINGS_MODULE="config.settings",
               PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
               SECRET_KEY="bench-refresh-" + "k" * 40, ARENA_DATA_DIR=str(args.data_dir),
               ARENA_SNAPSHOT_ROUNDS=str(args.rounds), ARENA_LEADERBOARD_METHOD=args.method,
               OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    if args.style_bootstrap_max_votes is not None:
        env["ARENA_STYLE_BOOTSTRAP_MAX_VOTES"] = str(args.style_bootstrap_max_votes)
    return env


def migrate(env: dict[str, str]) -> None:
    result = subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"manage.py migrate failed:\n{result.stdout}{result.stderr}")


# ---- filling it with set-based SQL ----------------------------------------------------------------------------------


def model_tables(n_models: int, seed: int) -> dict[str, list[float]]:
    """Per-model facts the SQL draws from: strengths, verbosity, and a lookup table for skewed popularity."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_models + 1) ** 1.1
    # 20,000 slots, each model holding slots in proportion to its popularity (at least one).
    slots = np.maximum(np.round(popularity / popularity.sum() * 20_000), 1).astype(int)
    lookup = np.repeat(np.arange(1, n_models + 1), slots)
    return {"strength": rng.normal(0.0, 1.0, n_models).round(6).tolist(),
            "verbosity": rng.uniform(60, 600, n_models).round(1).tolist(),
            "markdown": rng.uniform(0, 1, n_models).round(3).tolist(),
            "lookup": lookup.astype(float).tolist()}


def models_fill(conn: Any, n_models: int) -> None:
    conn.execute("""
        INSERT INTO arena_arenamodel (id, name, organization, license, link, adapter_kind, provider_model, base_url,
                                      key_env, key_file, generation, timeouts, options, sampling_weight, state,
                                      created_at, updated_at, aliases, prerelease_variants, test_ok, test_summary,
                                      test_fingerprint, accepts_images)
        SELECT i, 'bench-model-' || lpad(i::text, 3, '0'), 'Org ' || (i %% 40), 'Apache-2.0', '', '', '', '', '', '',
               '{}', '{}', '{}', 1.0, 'paused', now(), now(), '', 0, false, '', '', false
        FROM generate_series(1, %(n)s::int) AS i""", {"n": n_models})


def battles_fill(conn: Any, first: int, last: int, tables: dict[str, list[float]], seed: float) -> None:
    """Battles ``first``..``last`` (ids), their votes, turns and answers; vote i is cast at START + 3 i seconds."""
    conn.execute("SET max_parallel_workers_per_gather = 0")  # one process draws: the same seed, the same data
    conn.execute("SET session_replication_role = replica")  # no foreign-key triggers: the ids are made consistent
    conn.execute("SELECT setseed(%s)", [seed])
    languages = [code for code, _ in LANGUAGES]
    cumulative = np.cumsum([share for _, share in LANGUAGES]).round(4).tolist()
    conn.execute("DROP TABLE IF EXISTS bench_draw")
    conn.execute("""
        CREATE UNLOGGED TABLE bench_draw AS
        WITH raw AS (
            SELECT i, random() AS ra, random() AS rb, random() AS rc, random() AS rmode, random() AS rip,
                   random() AS rip2, random() AS rturn, random() AS rprompt, random() AS rcode, random() AS rlang,
                   random() AS rtie, random() AS rwin, random() AS rtime, random() AS rtime2, random() AS rfail
            FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS i
        ), picked AS (
            SELECT raw.*, (%(lookup)s::float8[])[1 + floor(ra * %(slots)s)::int]::bigint AS pa,
                   (%(lookup)s::float8[])[1 + floor(rb * %(slots)s)::int]::bigint AS pb
            FROM raw
        )
        SELECT i AS id, pa AS model_a,
               CASE WHEN pb = pa THEN 1 + (pa + floor(rc * (%(models)s - 1))::bigint) %% %(models)s ELSE pb END AS model_b,
               %(start)s::timestamptz + make_interval(secs => i * %(step)s) AS created_at,
               CASE WHEN rmode < 0.03 THEN 'side_by_side' ELSE 'anonymous' END AS mode,
               CASE WHEN rip < 0.05 THEN ''
                    WHEN i %% 40 = 0 THEN 'busy-' || (floor(i * %(step)s / 86400)::bigint %% 3)
                    ELSE 'ip-' || floor(rip2 * 300000)::bigint END AS ip_hash,
               CASE WHEN rturn < 0.75 THEN 1 WHEN rturn < 0.93 THEN 2 ELSE 3 END AS turn_count,
               floor(-ln(1 - rprompt) * 300)::int AS first_prompt_chars,
               rcode < 0.15 AS has_code,
               (%(languages)s::text[])[coalesce(array_position(
                   ARRAY(SELECT rlang < c FROM unnest(%(cumulative)s::float8[]) AS c), true), 1)] AS language,
               rtie, rwin, rtime, rtime2, rfail < 0.01 AS failed
        FROM picked""", {"first": first, "last": last, "lookup": tables["lookup"], "slots": len(tables["lookup"]),
                         "models": len(tables["strength"]), "start": START, "step": SECONDS_PER_VOTE,
                         "languages": languages, "cumulative": cumulative})
    conn.execute("""
        INSERT INTO arena_battle (id, uuid, mode, status, session_key, ip_hash, created_at, ready_at, turn_count,
                                  first_prompt_chars, has_code, language, source, external_id, model_a_id, model_b_id,
                                  prompt_fingerprint, has_images)
        SELECT id, gen_random_uuid(), mode, CASE WHEN failed THEN 'failed' ELSE 'voted' END,
               CASE WHEN ip_hash = '' THEN '' ELSE 's-' || ip_hash END, ip_hash, created_at,
               created_at - interval '5 seconds', turn_count, first_prompt_chars, has_code, language,
               CASE WHEN ip_hash = '' THEN 'bench-import' ELSE '' END, '', model_a, model_b,
               -- 1% of battles ask one of 5 frequent prompts (0.2% of the votes each), the others a unique one.
               CASE WHEN id % 100 = 3 THEN substr(md5('frequent-' || (id / 100 % 5)::text), 1, 32)
                    ELSE substr(md5(id::text), 1, 32) END,
               false  -- text battles only, as the figures recorded before the vision view
        FROM bench_draw ORDER BY id""")
    conn.execute("""
        INSERT INTO arena_vote (id, outcome, counts, excluded_reason, time_to_vote, session_key, ip_hash, created_at,
                                battle_id, evidence, reinstated_by, regenerated)
        SELECT d.id,
               CASE WHEN rtie < 0.20 THEN 'tie' WHEN rtie < 0.25 THEN 'both_bad'
                    WHEN rwin < 1 / (1 + exp((%(strength)s::float8[])[model_b] - (%(strength)s::float8[])[model_a]))
                    THEN 'a' ELSE 'b' END,
               mode = 'anonymous', CASE WHEN mode = 'anonymous' THEN '' ELSE 'side_by_side' END,
               CASE WHEN ip_hash = '' THEN NULL WHEN rtime < 0.07 THEN floor(rtime2 * 8) / 4
                    ELSE 2 + round((-ln(1 - rtime2) * 20)::numeric, 2) END,
               CASE WHEN ip_hash = '' THEN '' ELSE 's-' || ip_hash END, ip_hash, created_at, id, '{}', '', false
        FROM bench_draw d WHERE NOT failed ORDER BY id""", {"strength": tables["strength"]})
    conn.execute("""
        INSERT INTO arena_turn (battle_id, index, prompt, created_at)
        SELECT d.id, t, '', d.created_at FROM bench_draw d, generate_series(1, d.turn_count) AS t
        ORDER BY d.id, t""")
    conn.execute("""
        INSERT INTO arena_answer (turn_id, side, status, text, input_tokens, output_tokens, tokens_counted,
                                  time_to_first_token, latency, finish_reason, error, error_message, started_at,
                                  finished_at, style, queued_at, leaks, regenerations, earlier)
        SELECT t.id, s.side, 'done', '', NULL, NULL, true, NULL, NULL, 'stop', '', '', t.created_at, t.created_at,
               CASE WHEN d.id %% 100 = 7 AND s.side = 'b' THEN '[]'::jsonb
                    ELSE jsonb_build_array(
                        floor((%(verbosity)s::float8[])[m] * (0.3 + random() * 1.4))::int,
                        floor((%(markdown)s::float8[])[m] * random() * 5)::int,
                        floor((%(markdown)s::float8[])[m] * random() * 12)::int,
                        floor((%(markdown)s::float8[])[m] * random() * 6)::int) END,
               t.created_at, '[]', 0, '[]'
        FROM bench_draw d JOIN arena_turn t ON t.battle_id = d.id
        CROSS JOIN LATERAL (VALUES ('a', d.model_a), ('b', d.model_b)) AS s(side, m)
        ORDER BY t.id, s.side""", {"verbosity": tables["verbosity"], "markdown": tables["markdown"]})
    conn.execute("DROP TABLE bench_draw")
    for table in ("arena_battle", "arena_vote", "arena_turn", "arena_answer", "arena_arenamodel"):
        conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")


FILLED = ("arena_battle", "arena_vote", "arena_turn", "arena_answer")


@contextmanager
def without_indexes(conn: Any) -> Iterator[None]:
    """Drop the filled tables' secondary indexes and unique constraints, and build them again afterwards.

    Building an index once over millions of rows is several times faster than updating it row by row.
    """
    tables = list(FILLED)
    constraints = conn.execute("""
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE contype = 'u' AND conrelid::regclass::text = ANY(%s)""", [tables]).fetchall()
    indexes = conn.execute("""
        SELECT indexname, indexdef FROM pg_indexes
        WHERE tablename = ANY(%s) AND indexname NOT IN (SELECT conname FROM pg_constraint)""", [tables]).fetchall()
    for table, name, _ in constraints:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    try:
        yield
    finally:
        for _, definition in indexes:
            conn.execute(definition)
        for table, name, definition in constraints:
            conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


def fill(url: str, first: int, last: int, n_models: int, seed: int, *, bulk: bool = True) -> float:
    """Add battles ``first``..``last``; returns the seconds it took (indexes and VACUUM ANALYZE included).

    ``bulk``: drop the indexes and build them again afterwards (for millions of rows); otherwise the
    rows go in with the indexes in place, in one transaction, as an arena's new votes would.
    """
    import psycopg

    started = time.perf_counter()
    tables = model_tables(n_models, seed)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '512MB'")
        if first == 1:
            models_fill(conn, n_models)
        with without_indexes(conn) if bulk else nullcontext():
            step = 1_000_000
            for lo in range(first, last + 1, step):
                with conn.transaction():
                    battles_fill(conn, lo, min(lo + step - 1, last), tables, seed=((seed + lo) % 1000) / 1000)
        conn.execute("VACUUM ANALYZE" if bulk else "ANALYZE")
    return time.perf_counter() - started


# ---- what the child process measures ------------------------------------------------------------------------------


def rss_mib() -> float:
    """The current resident set size of this process."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def baseline_refresh() -> int:
    """The refresh as it was before issue 10: every vote as a ``VoteRow``, the rules in Python, lists per view.

    Built from the reference functions the tests keep (:func:`leaderboard.rules.split_counted`,
    :func:`leaderboard.snapshots.battles_from_rows`); writes nothing. Each view gets the fit the new
    refresh gives it (the same intervals: sandwich for a style-controlled view above
    ``ARENA_STYLE_BOOTSTRAP_MAX_VOTES``; no online Elo), so that the two differ only in how they
    count. The old refresh itself also bootstrapped the style-controlled view (a refit per round
    over every battle) and ran the online Elo: at a million votes, far slower still (a run of it
    here was stopped after 14 minutes). Returns the views computed.
    """
    from django.conf import settings

    import ratings.leaderboard as engine
    from arena.models import ArenaModel
    from leaderboard.rules import Rules, split_counted, views
    from leaderboard.snapshots import battles_from_rows, counts_hash, vote_rows

    rules = Rules.from_settings()
    counted, _ = split_counted(vote_rows(), rules)
    names = dict(ArenaModel.objects.values_list("pk", "name"))
    done = 0
    for view in views({r.language for r in counted}, rules):
        kept = [r for r in counted if view.keep(r)]
        if not kept or len(kept) < view.min_votes:
            continue
        battles = battles_from_rows(kept, names, style=view.style_control)
        limit = settings.ARENA_STYLE_BOOTSTRAP_MAX_VOTES if view.style_control else settings.ARENA_BOOTSTRAP_MAX_VOTES
        ci = "sandwich" if battles.n_battles > limit else "bootstrap"
        engine.compute_leaderboard(battles, ci=ci, rounds=settings.ARENA_SNAPSHOT_ROUNDS, seed=0,
                                   style_control=view.style_control, elo_k=None)
        counts_hash(battles)
        done += 1
    return done


class Meter:
    """Where the refresh spends its time and memory: inside the engine's fits, or counting around them.

    Wraps ``ratings.leaderboard.compute_leaderboard`` (looked up at each call by the refresh, so the
    wrapper sees every view) to add up its wall time, and samples the resident memory every 5 ms to
    find the peak inside the fits and the peak before the first fit (counting and reading: later,
    memory the fits freed is not always handed back to the system). The headline peak stays
    ``ru_maxrss``.
    """

    def __init__(self) -> None:
        import threading

        import ratings.leaderboard as engine

        self.engine_s, self.in_fit, self.fitted = 0.0, False, False
        self.peak_fit = self.peak_counting = 0.0
        self.fits: list[dict[str, Any]] = []
        fit = engine.compute_leaderboard

        def timed(battles: Any, *args: Any, **kwargs: Any) -> Any:
            self.in_fit, self.fitted, started = True, True, time.perf_counter()
            try:
                return fit(battles, *args, **kwargs)
            finally:
                seconds = time.perf_counter() - started
                self.engine_s += seconds
                self.in_fit = False
                self.fits.append({"rows": len(battles), "battles": battles.n_battles, "s": round(seconds, 2),
                                  "ci": kwargs.get("ci")})

        engine.compute_leaderboard = timed
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while True:
            now = rss_mib()
            if self.in_fit:
                self.peak_fit = max(self.peak_fit, now)
            elif not self.fitted:
                self.peak_counting = max(self.peak_counting, now)
            time.sleep(0.005)


def child(which: str) -> None:
    """Run one refresh in this (fresh) process and print what it cost as JSON."""
    import django

    django.setup()
    from leaderboard.snapshots import snapshot_refresh

    meter = Meter()
    before = rss_mib()
    started, cpu = time.perf_counter(), time.process_time()
    if which == "baseline":
        views = baseline_refresh()
        details: list[dict[str, Any]] = []
    else:
        snapshots = snapshot_refresh(force=True)
        views = len(snapshots)
        details = [{"view": s.view, "votes": s.votes, "ci": s.ci_method, "rounds": s.rounds} for s in snapshots]
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall": wall, "cpu": cpu, "peak_mib": peak, "before_mib": before, "views": views,
                      "engine_s": meter.engine_s, "peak_fit_mib": meter.peak_fit,
                      "peak_counting_mib": meter.peak_counting, "fits": meter.fits, "details": details}))


def measure(env: dict[str, str], which: str, root: Path = ROOT) -> dict[str, Any]:
    """One refresh in a fresh child process, with the code of the checkout at ``root``."""
    if root != ROOT:
        env = {**env, "PYTHONPATH": os.pathsep.join([str(root), *env["PYTHONPATH"].split(os.pathsep)[1:]])}
    result = subprocess.run([sys.executable, "-m", "bench.refresh", "--child", which], cwd=root, env=env,
                            capture_output=True, text=True, timeout=3600, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"the {which} refresh failed:\n{result.stdout}{result.stderr}")
    measured: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return measured


# ---- the run --------------------------------------------------------------------------------------------------------


@contextmanager
def bench_database(args: argparse.Namespace) -> Iterator[str]:
    database_reset(args.postgres, args.database, create=True)
    try:
        yield database_url(args.postgres, args.database)
    finally:
        if not args.keep:
            database_reset(args.postgres, args.database, create=False)


def counts(url: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("""SELECT (SELECT count(*) FROM arena_vote), (SELECT count(*) FROM arena_battle),
                                     (SELECT count(*) FROM arena_answer)""").fetchone()
    assert row is not None
    return {"votes": row[0], "battles": row[1], "answers": row[2]}


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    with bench_database(args) as url:
        env = child_env(url, args)
        migrate(env)
        filled = 0
        for size in args.sizes:
            # The sizes count battles in all, the new battles of earlier sizes included.
            seconds = fill(url, filled + 1, size, args.models, args.seed) if size > filled else 0.0
            filled = max(filled, size)
            row: dict[str, Any] = {"size": size, "fill_s": seconds, **counts(url)}
            row["refresh"] = measure(env, "refresh")  # sums the style counts of the new battles first
            row["again"] = measure(env, "refresh")  # a refresh in steady state: every battle's style summed
            if args.before is not None:
                row["before"] = measure(env, "refresh", args.before)  # another checkout's code, same votes
            if args.new_votes:
                # New votes since the last refresh, as a live arena has them (on the latest days' addresses).
                fill(url, filled + 1, filled + args.new_votes, args.models, args.seed, bulk=False)
                filled += args.new_votes
                row["new"] = measure(env, "refresh")
            if size == args.sizes[0] and not args.no_baseline:
                row["baseline"] = measure(env, "baseline")
            results.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    return results


def report(args: argparse.Namespace, results: list[dict[str, Any]]) -> str:
    lines = [f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
             f"NumPy {np.__version__}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; "
             f"{args.models} models, {args.rounds} rounds, method {args.method}",
             "| votes (battles, answers) | fill | refresh wall (CPU) | of which engine fits | peak RSS (before) "
             "| peak RSS in the fits / before the first | views |", "|---|---|---|---|---|---|---|"]
    for row in results:
        for label, key in ((", first refresh", "refresh"), (", next refresh", "again"),
                           (f", after {args.new_votes:,} new battles", "new"),
                           (f", code of {args.before}", "before"), (", old Python path", "baseline")):
            if key not in row:
                continue
            m = row[key]
            lines.append(f"| {row['votes']:,} ({row['battles']:,}, {row['answers']:,}){label} | {row['fill_s']:.0f} s | "
                         f"{m['wall']:.2f} s ({m['cpu']:.2f} s) | {m['engine_s']:.2f} s | "
                         f"{m['peak_mib']:.0f} MiB ({m['before_mib']:.0f} MiB) | "
                         f"{m['peak_fit_mib']:.0f} / {m['peak_counting_mib']:.0f} MiB | {m['views']} |")
        if "baseline" in row:
            lines.append(f"| ratio old / next refresh at {row['votes']:,} votes | | "
                         f"{row['baseline']['wall'] / row['again']['wall']:.1f}× | | "
                         f"{row['baseline']['peak_mib'] / row['again']['peak_mib']:.1f}× | | |")
    for row in results:
        views = ", ".join(f"{d['view']} {d['votes']:,} ({d['ci']})" for d in row["again"]["details"])
        lines.append(f"\n{row['votes']:,} votes: {views}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000],
                        help="battles to fill, in increasing order (default 1,000,000 then 5,000,000)")
    parser.add_argument("--models", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=1000, help="ARENA_SNAPSHOT_ROUNDS of the refresh")
    parser.add_argument("--method", default="bootstrap", help="ARENA_LEADERBOARD_METHOD of the refresh")
    parser.add_argument("--style-bootstrap-max-votes", type=int, help="ARENA_STYLE_BOOTSTRAP_MAX_VOTES (default: "
                        "the application's)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the old Python path")
    parser.add_argument("--before", type=Path, help="a checkout of earlier code (e.g. a git worktree) whose refresh "
                        "is timed on the same votes right after the steady-state one")
    parser.add_argument("--new-votes", type=int, default=10_000,
                        help="battles added after the steady-state refresh, for a third refresh (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/postgres",
                        help="an administrative connection")
    parser.add_argument("--database", default="arena_refresh_bench")
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/arena-bench-refresh"))
    parser.add_argument("--child", choices=["refresh", "baseline"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child)
        return
    if args.sizes != sorted(args.sizes):
        parser.error("--sizes must increase: each size adds votes to the previous one")
    print(report(args, run(args)))


if __name__ == "__main__":
    main()
