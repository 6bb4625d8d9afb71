import os
import socket
from pathlib import Path

import pytest

# ./dev test sets this so that a missing service fails the run instead of skipping tests.
REQUIRE_SERVICES = os.environ.get("ARENA_REQUIRE_SERVICES") == "1"


def service_missing(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (ARENA_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DATA = REPO_ROOT / "data"


@pytest.fixture
def sample_data() -> Path:
    """The data shipped in data/: the LLMFAO crowd votes and their published reference scores.

    LLMFAO, Dmitry Ustalov; base responses from the llmonitor.com Crowdsourced LLM Benchmark
    (CC BY 4.0); see data/README.md.
    """
    assert (SAMPLE_DATA / "llmfao_battles.json").is_file(), f"{SAMPLE_DATA} is missing its LLMFAO file"
    return SAMPLE_DATA
