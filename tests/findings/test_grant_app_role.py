"""The role the application connects as: rows yes, schema never. The audit triggers hold only
against a role that does not own the tables (the owner may drop them)."""

import io
import os
import subprocess
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app_role(committed_db):
    role = f"iamreview_app_{uuid.uuid4().hex[:8]}"
    yield role
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone():
            cursor.execute(f'DROP OWNED BY "{role}"')
            cursor.execute(f'DROP ROLE "{role}"')


@contextmanager
def connect_as(role: str):
    settings = connection.settings_dict
    conn = psycopg2.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        dbname=settings["NAME"],
        user=role,
    )
    conn.autocommit = True
    try:
        yield conn
    finally:
        conn.close()  # an open one would keep the test database from being dropped


@pytest.mark.parametrize(
    "statement",
    [
        "TRUNCATE findings_auditentry",
        "ALTER TABLE findings_auditentry DISABLE TRIGGER ALL",
        "DROP TABLE findings_decision",
        "ALTER TABLE findings_reviewitem DISABLE TRIGGER USER",
        "CREATE TABLE public.smuggled (id int)",
        "INSERT INTO django_migrations (app, name, applied) VALUES ('findings', 'x', now())",
    ],
)
def test_the_app_role_can_neither_drop_the_triggers_nor_truncate_nor_change_the_schema(
    app_role, statement
):
    call_command("grant_app_role", app_role, stdout=io.StringIO())
    with (
        connect_as(app_role) as conn,
        conn.cursor() as cursor,
        pytest.raises(psycopg2.errors.InsufficientPrivilege),
    ):
        cursor.execute(statement)


def test_the_app_role_reads_and_writes_rows_and_the_triggers_still_refuse_edits(app_role):
    call_command("grant_app_role", app_role, stdout=io.StringIO())
    call_command("grant_app_role", app_role, stdout=io.StringIO())  # idempotent
    with connect_as(app_role) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM findings_finding")
        cursor.execute(
            "INSERT INTO django_session (session_key, session_data, expire_date) "
            "VALUES ('k', 'd', now())"
        )
        cursor.execute("DELETE FROM django_session WHERE session_key = 'k'")
        with pytest.raises(psycopg2.errors.RaiseException, match="append-only"):
            cursor.execute("DELETE FROM findings_auditentry")


def test_the_application_runs_as_that_role(app_role):
    """A whole Django process connected as the role adds an account, which writes its audit
    entry through the chain (sequences, locks, the entry's row)."""
    call_command("grant_app_role", app_role, stdout=io.StringIO())
    settings = connection.settings_dict
    url = (
        f"postgres://{app_role}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}"
        f"/{settings['NAME']}"
    )
    script = (
        "from findings.collection.registry import add_account\n"
        "from findings.models import AuditEntry\n"
        "account = add_account(account_id='111122223333', name='as the app role')\n"
        "print(AuditEntry.objects.filter(action='aws_account.added').count())\n"
    )
    child = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url, "CELERY_BROKER_URL": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    assert child.stdout.strip().endswith("1")


def test_the_owner_or_a_superuser_is_refused(postgres, app_role):
    with pytest.raises(CommandError, match="the role this command connects as"):
        call_command("grant_app_role", connection.settings_dict["USER"])
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{app_role}" SUPERUSER')
    with pytest.raises(CommandError, match="is a superuser"):
        call_command("grant_app_role", app_role)


def test_a_password_comes_from_the_environment_only(app_role, monkeypatch):
    with pytest.raises(CommandError, match="APP_DB_PASSWORD is not set"):
        call_command("grant_app_role", app_role, password_env="APP_DB_PASSWORD")
    monkeypatch.setenv("APP_DB_PASSWORD", "s3cret-for-the-app")
    call_command("grant_app_role", app_role, password_env="APP_DB_PASSWORD", stdout=io.StringIO())
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", [app_role])
        (stored,) = cursor.fetchone()
    assert stored.startswith("SCRAM-SHA-256$")  # sent hashed: no log holds the password


def test_a_member_of_the_owner_role_is_refused(postgres, app_role):
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{app_role}" LOGIN')
        cursor.execute(f'GRANT "{connection.settings_dict["USER"]}" TO "{app_role}"')
    with pytest.raises(CommandError, match="member of the tables' owner"):
        call_command("grant_app_role", app_role)
