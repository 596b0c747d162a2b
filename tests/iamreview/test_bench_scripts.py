"""The benchmarks under bench/ still run: each script end to end at a tiny size, in a database
of its own (they empty theirs). Nothing here looks at a time: only that every page and job is
measured and reported. A script that rots (an import renamed under it) fails here, not on the
day someone needs its numbers."""

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg2
import pytest
from django.conf import settings
from psycopg2 import sql

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="the benchmarks run on PostgreSQL",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def bench_database_url():
    """A new, empty database named *bench* (the scripts refuse any other name), dropped after."""
    db = settings.DATABASES["default"]
    server = {
        "host": db["HOST"] or "127.0.0.1",
        "port": db["PORT"] or 5432,
        "user": db["USER"],
        "password": db["PASSWORD"] or None,
    }
    name = f"iamreview_smoke_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(dbname="postgres", **server)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    password = f":{server['password']}" if server["password"] else ""
    try:
        yield f"postgres://{server['user']}{password}@{server['host']}:{server['port']}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        admin.close()


def run_script(*args: str, database_url: str) -> str:
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # the scripts choose iamreview.settings themselves
    done = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_scale_builds_serves_and_reports_every_page_and_job(bench_database_url):
    out = run_script(
        "bench/scale.py",
        *("--accounts", "2", "--findings", "200", "--items", "30", "--requests", "8"),
        *("--import-users", "40", "--digest-people", "6", "--port", str(free_port())),
        database_url=bench_database_url,
    )
    for row in [
        "| login page (the floor) |",
        "| cycle queue, any page |",
        "| review item page |",
        "| findings list, page 1 |",
        "| findings list, filtered page 50 |",
        "| dashboard |",
        "| GET /api/findings |",
        "| inventory users, page 1 |",
        "| inventory users stalest first, any page |",
        "| inventory roles, searched |",
        "| `import_file` of a 40-user credential report",
        "| `import_file` of authorization details, 40 users and 20 roles",
        "| rows written by an unchanged re-import and re-detection of one account | 0 | 0: met |",
        "| digests for 6 people",
        "| CSV export peak RSS,",
    ]:
        assert row in out, row


def test_plans_explains_every_list_and_the_queue(bench_database_url):
    out = run_script(
        "bench/plans.py",
        *("--findings", "600", "--accounts", "3", "--items", "60", "--principals", "300"),
        database_url=bench_database_url,
    )
    for label in [
        "=== findings page 1 (open, by severity): its ids",
        "=== severity counts",
        "=== queue page 40 of a 10k-item cycle",
        "=== queue opened at an item: the items before it",
        "=== item page: its neighbours in the queue",
        "=== inventory users stalest first, page 150: its ids",
        "=== inventory users: the page's rows (credential rows, open findings)",
        "=== inventory roles: the page's rows (open findings, policies)",
    ]:
        assert label in out, label
    assert out.count("Execution Time:") >= 10


def test_plans_refuses_a_database_not_named_bench():
    done = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, "bench/plans.py"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/iamreview"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "name it *bench*" in done.stderr
