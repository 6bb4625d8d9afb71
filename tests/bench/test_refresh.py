"""bench/refresh.py at a tiny size, so that it cannot rot: fill, refresh twice, the old path, the report, the drop."""

from __future__ import annotations

import os

import psycopg
import pytest

import ratings.leaderboard as engine
from bench import refresh
from tests.conftest import service_missing

ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"


@pytest.mark.distributed
# The refresh runs in child processes, where tests/leaderboard/conftest.py's stand-in for the engine's presets is not
# installed: this needs the real ones (they bring "lmarena"; the stand-in knows only "bootstrap").
@pytest.mark.skipif("lmarena" not in getattr(engine, "METHODS", {}), reason="the engine's method presets (issue 10) are "
                    "not in yet")
def test_the_refresh_benchmark_runs_at_a_tiny_size_and_drops_its_database(capsys) -> None:
    try:
        psycopg.connect(ADMIN, connect_timeout=3).close()
    except psycopg.Error as exc:
        service_missing(f"the refresh benchmark needs PostgreSQL on 127.0.0.1 ({exc})")
    database = f"arena_refresh_bench_test_{os.getpid()}"
    refresh.main(["--sizes", "600", "1200", "--models", "8", "--rounds", "5", "--database", database,
                  "--postgres", ADMIN, "--new-votes", "50", "--before", str(refresh.ROOT)])
    out = capsys.readouterr().out
    assert "| votes (battles, answers) |" in out and "| of which engine fits |" in out
    assert ", first refresh |" in out and ", next refresh |" in out and ", old Python path |" in out
    assert ", after 50 new battles |" in out and f", code of {refresh.ROOT} |" in out
    assert "ratio old / next refresh" in out and "style_control" in out
    with psycopg.connect(ADMIN) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone() is None


def test_the_popularity_table_is_skewed_and_covers_every_model() -> None:
    tables = refresh.model_tables(300, seed=0)
    lookup = tables["lookup"]
    assert set(lookup) == {float(i) for i in range(1, 301)}
    assert lookup.count(1.0) > 50 * lookup.count(300.0)
    assert len(tables["strength"]) == len(tables["verbosity"]) == 300
