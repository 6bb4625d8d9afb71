"""The README's researcher commands run, as written, from a checkout with nothing beside it."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.embedded

COMMAND = re.compile(r"^\.venv/bin/python (-m ratings data/.*|manage\.py (?:import_battles|leaderboard_refresh).*)$",
                     re.MULTILINE)


def readme_commands() -> list[list[str]]:
    """The commands of the README's shell blocks that run on the shipped data, without their comments."""
    blocks = re.findall(r"```sh\n(.*?)```", (REPO_ROOT / "README.md").read_text(encoding="utf-8"), re.DOTALL)
    return [shlex.split(match, comments=True) for block in blocks for match in COMMAND.findall(block)]


def run(args: list[str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}  # a fresh embedded arena
    env.update(ARENA_DATA_DIR=str(data_dir), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def test_the_readme_names_the_commands_it_promises() -> None:
    commands = [" ".join(c[:2]) for c in readme_commands()]
    assert commands.count("-m ratings") == 2
    assert "manage.py import_battles" in commands and "manage.py leaderboard_refresh" in commands


def test_every_researcher_command_runs_on_a_fresh_database(tmp_path: Path) -> None:
    assert run(["manage.py", "migrate", "--noinput", "-v", "0"], tmp_path).returncode == 0  # what ./dev run does first
    outputs = {}
    for command in readme_commands():
        result = run(command, tmp_path)
        assert result.returncode == 0, (command, result.stderr)
        outputs[" ".join(command)] = result.stdout
    table = outputs["-m ratings data/llmfao_battles.json"]
    assert len(table.splitlines()) > 59  # a header and one line per LLMFAO model
    assert outputs["-m ratings data/llmfao_battles.json --format csv"].startswith("model,rating,lower,upper")
    assert "Created 8931 battles" in outputs["manage.py import_battles data/llmfao_battles.json"]
    assert "Overall: 8931 votes, 59 models" in outputs["manage.py leaderboard_refresh"]
