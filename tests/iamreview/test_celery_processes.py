"""`celery -A iamreview worker` and `celery -A iamreview beat` start against the real Redis."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))


def run_until(args: list[str], marker: str, *, env: dict, seconds: int = 60) -> str:
    """Start a Celery process, wait for `marker` in its output, then stop it."""
    process = subprocess.Popen(
        [CELERY, "-A", "iamreview", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = []
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
            output.append(line)
            if marker in line:
                return "".join(output)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
    raise AssertionError(f"{marker!r} never appeared:\n{''.join(output)[-3000:]}")


@pytest.fixture
def celery_env(redis_url, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(
        CELERY_BROKER_URL=redis_url,
        DATABASE_URL=f"sqlite:///{tmp_path / 'celery.sqlite3'}",
        DJANGO_SETTINGS_MODULE="iamreview.settings",
    )
    return env


@pytest.mark.services
def test_the_worker_starts_against_redis_with_our_tasks(celery_env):
    output = run_until(["worker", "--loglevel=INFO", "--pool=solo"], "ready.", env=celery_env)
    assert "Connected to redis://" in output
    assert "findings.collect_source" in output
    assert "findings.schedule_collections" in output


@pytest.mark.services
def test_beat_starts_against_redis(celery_env, tmp_path):
    output = run_until(
        ["beat", "--loglevel=INFO", f"--schedule={tmp_path / 'beat-schedule'}"],
        "beat: Starting",
        env=celery_env,
    )
    assert "redis://" in output
