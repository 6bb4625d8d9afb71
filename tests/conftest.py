import os
import socket

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
