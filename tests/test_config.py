from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY", "ARENA_HTTPS", "ALLOWED_HOSTS")}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **env}, capture_output=True,
                          text=True, timeout=120)


def test_the_deploy_checks_pass_with_production_settings(tmp_path: Path) -> None:
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING",
        SECRET_KEY="x" * 20 + "production-secret-key-from-the-environment-0123456789",
        ARENA_HTTPS="1", ALLOWED_HOSTS="arena.example.org", ARENA_DATA_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_deploy_checks_fail_when_https_hardening_is_off(tmp_path: Path) -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", ARENA_DATA_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "SECURE_SSL_REDIRECT" in result.stderr + result.stdout


def test_debug_is_off_unless_asked_for(tmp_path: Path) -> None:
    show = ("shell", "-c", "from django.conf import settings; print(settings.DEBUG)")
    assert manage(*show, ARENA_DATA_DIR=str(tmp_path)).stdout.strip().splitlines()[-1] == "False"
    assert manage(*show, ARENA_DATA_DIR=str(tmp_path), DEBUG="1").stdout.strip().splitlines()[-1] == "True"


@pytest.mark.parametrize(("name", "value", "message"), [("DEBUG", "maybe", "DEBUG must be one of"),
                                                         ("ARENA_MAX_TURNS", "lots", "ARENA_MAX_TURNS must be an integer"),
                                                         ("ARENA_MAX_TURNS", "0", "must be at least 1")])
def test_a_bad_setting_fails_loudly_at_start(tmp_path: Path, name: str, value: str, message: str) -> None:
    result = manage("check", ARENA_DATA_DIR=str(tmp_path), **{name: value})
    assert result.returncode != 0
    assert message in result.stderr


def test_without_a_secret_key_one_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    assert manage("check", ARENA_DATA_DIR=str(tmp_path)).returncode == 0
    key_file = tmp_path / "secret_key"
    first = key_file.read_text()
    assert len(first) >= 50 and (key_file.stat().st_mode & 0o077) == 0
    assert manage("check", ARENA_DATA_DIR=str(tmp_path)).returncode == 0
    assert key_file.read_text() == first
