"""bench/rigging.py at a tiny size, so that it cannot rot: the vote path, the detection table, the three boards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("strategy", ["target_only", "omnipresent"])
def test_the_rigging_benchmark_runs_at_a_tiny_size_and_catches_its_riggers(strategy: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env["OMP_NUM_THREADS"] = "1"
    result = subprocess.run(
        [sys.executable, "-m", "bench.rigging", "--organic", "500", "--rigged", "80", "--models", "6",
         "--rigger-sessions", "2", "--refresh-every", "250", "--rounds", "20", "--strategy", strategy,
         "--database", str(tmp_path / "rig.sqlite3"), "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["rigged_votes"] == 80 and found["votes"] >= 580
    detection = found["detection"]
    if strategy == "target_only":  # two sessions of 40 votes, all for the target: both caught
        assert detection["not_counted:anomalous_voter"]["rigged"] > 0 and detection["any rule"]["tpr"] >= 0.9
    assert detection["any rule"]["fpr"] <= 0.05
    assert set(found["rank"]) == {"organic_only", "defences_on", "defences_off"}
    assert all(1 <= rank <= 6 for rank, _ in found["rank"].values())
