"""``python -m model_adapters``: the operators' check of an endpoint."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from model_adapters.cli import main

from .wire import KEY_ENV, PROVIDERS, SECRET
from .wire_server import Reply, WireServer

REPO = Path(__file__).resolve().parents[2]


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def test_it_streams_an_openai_compatible_answer_then_prints_the_figures(wire_server: WireServer, provider_key):
    wire_server.reply(Reply(parts=PROVIDERS["openai"].answer(["Hello", " there"], usage=(9, 2), finish="length")))
    status, out, err = run_cli(
        "stream", "openai", "--model", "m", "--base-url", f"{wire_server.url}/v1", "--key-env", KEY_ENV,
        "--max-tokens", "2", "--stop", "###", "--option", "include_usage=true", "Say hello",
    )
    assert status == 0
    assert out == "Hello there"
    assert "input tokens: 9" in err and "output tokens: 2" in err
    assert "time to first token:" in err and "latency:" in err and "finish reason: length" in err
    body = wire_server.requests[0].body
    assert body["max_tokens"] == 2 and body["stop"] == ["###"]
    assert body["messages"] == [{"role": "user", "content": "Say hello"}]


def test_a_failure_prints_the_error_class_and_exits_non_zero_without_the_key(wire_server: WireServer, provider_key):
    wire_server.reply(Reply(401, [f'{{"error": {{"message": "bad key {SECRET}"}}}}'.encode()]))
    status, _, err = run_cli(
        "stream", "anthropic", "--model", "claude", "--base-url", wire_server.url, "--key-env", KEY_ENV, "Hi",
    )
    assert status == 1
    assert "AuthenticationFailed" in err
    assert SECRET not in err


def test_a_missing_base_url_is_a_usage_error():
    status, _, err = run_cli("stream", "openai", "--model", "m", "Hi")
    assert status == 2
    assert "--base-url" in err


def test_an_unset_key_variable_is_reported_by_name(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("ARENA_NO_SUCH_KEY", raising=False)
    status, _, err = run_cli("stream", "gemini", "--model", "gemini-x", "--key-env", "ARENA_NO_SUCH_KEY", "Hi")
    assert status == 1
    assert "ConfigurationError" in err and "ARENA_NO_SUCH_KEY" in err


def test_it_runs_as_a_module_with_the_offline_demo():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        [sys.executable, "-m", "model_adapters", "stream", "demo", "--model", "pelican", "--option", "delay=0",
         "--max-tokens", "5", "Why is the sky blue?"],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=60, check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("Short answer")
    assert "finish reason: length" in completed.stderr


def test_kinds_lists_every_registered_kind_with_its_queue():
    status, out, _ = run_cli("kinds")
    assert status == 0
    assert "local" in out and "queue: gpu" in out
    assert all(kind in out for kind in ("demo", "openai", "anthropic", "gemini"))


def test_the_echo_demo_answers_with_the_prompt_verbatim():
    prompt = "| a | b |\n|---|---|\n| `x` | $y$ |\n\n- one\n  - nested"
    status, out, err = run_cli("stream", "demo", "--model", "echo", "--option", "delay=0", prompt)
    assert status == 0, err
    assert out.rstrip("\n") == prompt


def test_images_given_with_image_go_with_the_prompt(wire_server: WireServer, provider_key, tmp_path):
    import PIL.Image

    PIL.Image.new("RGB", (6, 4), (255, 0, 0)).save(tmp_path / "red.png")
    PIL.Image.new("RGB", (3, 2), (0, 0, 255)).save(tmp_path / "blue.gif")
    wire_server.reply(Reply(parts=PROVIDERS["anthropic"].answer(["Red", " and blue"])))
    status, out, _ = run_cli(
        "stream", "anthropic", "--model", "claude", "--base-url", wire_server.url, "--key-env", KEY_ENV,
        "--image", str(tmp_path / "red.png"), "--image", str(tmp_path / "blue.gif"), "What colours ?",
    )
    assert (status, out) == (0, "Red and blue")
    blocks = wire_server.requests[0].body["messages"][0]["content"]
    assert [b["type"] for b in blocks] == ["image", "image", "text"]
    assert [b["source"]["media_type"] for b in blocks[:2]] == ["image/png", "image/png"]  # the GIF re-encoded


def test_the_demo_describes_an_image_given_on_the_command_line(tmp_path):
    import PIL.Image

    PIL.Image.new("RGB", (6, 4), (255, 255, 255)).save(tmp_path / "white.jpg", quality=95)
    status, out, _ = run_cli("stream", "demo", "--model", "echo", "--option", "delay=0",
                             "--image", str(tmp_path / "white.jpg"), "hi")
    assert status == 0
    assert out == "Image 1 is 6×4 pixels, mostly white (#ffffff).\n\nhi"


def test_an_unreadable_image_is_a_usage_error(tmp_path):
    (tmp_path / "not.png").write_bytes(b"no image here")
    status, _, err = run_cli("stream", "demo", "--model", "echo", "--image", str(tmp_path / "not.png"), "hi")
    assert status == 2
    assert "cannot read the image" in err
