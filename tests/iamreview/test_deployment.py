"""Settings, deployment checks and docker-compose, checked the way an operator would use them."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def manage(*args, env=None):
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "AUDIT_LOG_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def settings_names() -> set[str]:
    source = (ROOT / "iamreview" / "settings.py").read_text()
    return set(re.findall(r'env(?:_bool|_int|_list)?\(\s*"([A-Z_]+)"', source))


def test_check_deploy_reports_no_issues_with_debug_off():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env={
            "DEBUG": "False",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "AUDIT_LOG_KEY": secrets.token_urlsafe(32),
            "ALLOWED_HOSTS": "example.com",
        },
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_missing_secret_key_with_debug_off_fails_with_a_clear_message():
    result = manage("check", env={"DEBUG": "False"})
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


@pytest.mark.parametrize("content", [None, "not a certificate"])
def test_a_webhook_ca_bundle_that_is_no_pem_file_stops_the_start_with_a_clear_message(
    tmp_path, content
):
    bundle = tmp_path / "corporate.pem"
    if content is not None:
        bundle.write_text(content)
    result = manage("check", env={"WEBHOOK_CA_BUNDLE": str(bundle)})
    assert result.returncode != 0
    assert f"WEBHOOK_CA_BUNDLE must be a file of PEM certificates; {bundle}" in result.stderr


def test_missing_audit_log_key_with_debug_off_fails_with_a_clear_message():
    result = manage("check", env={"DEBUG": "False", "SECRET_KEY": secrets.token_urlsafe(50)})
    assert result.returncode != 0
    assert "AUDIT_LOG_KEY must be set when DEBUG is off" in result.stderr


@pytest.mark.parametrize("name", ["SECRET_KEY", "AUDIT_LOG_KEY"])
def test_check_deploy_refuses_a_placeholder_key(name):
    keys = {"SECRET_KEY": secrets.token_urlsafe(50), "AUDIT_LOG_KEY": secrets.token_urlsafe(32)}
    keys[name] = "change-me-to-a-long-random-string"
    result = manage(
        "check", "--deploy", env={"DEBUG": "False", "ALLOWED_HOSTS": "example.com", **keys}
    )
    assert result.returncode != 0
    assert "iamreview.E001" in result.stderr and f"{name} is a placeholder" in result.stderr


def test_env_example_leaves_the_secrets_empty():
    # A placeholder passes "must be set" and is the same for everyone who copies the file.
    example = (ROOT / ".env.example").read_text()
    for name in ("SECRET_KEY", "AUDIT_LOG_KEY", "POSTGRES_PASSWORD", "APP_DB_PASSWORD"):
        assert re.search(rf"^{name}=$", example, re.M), name


def test_every_setting_is_documented_in_env_example():
    example = (ROOT / ".env.example").read_text()
    undocumented = {name for name in settings_names() if not re.search(rf"\b{name}=", example)}
    assert undocumented == set()


def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_defines_the_production_services_from_one_image():
    services = compose()["services"]
    assert set(services) >= {"migrate", "web", "worker", "beat", "postgres", "redis", "mailpit"}
    for name in ("migrate", "web", "worker", "beat"):
        assert services[name]["build"] == "."
        assert services[name]["env_file"] == ".env"
    assert "gunicorn iamreview.wsgi" in services["web"]["command"]
    # An upload is imported in its request: a large account's file outlasts the default 30 s.
    assert "--timeout 300" in services["web"]["command"]
    assert '"--timeout", "300"' in (ROOT / "Dockerfile").read_text()
    assert services["worker"]["command"].startswith("celery -A iamreview worker")
    assert services["beat"]["command"].startswith("celery -A iamreview beat")
    assert (ROOT / "Dockerfile").exists()


def test_web_waits_for_a_healthy_postgres_and_redis():
    services = compose()["services"]
    assert "healthcheck" in services["postgres"] and "healthcheck" in services["redis"]
    depends = services["web"]["depends_on"]
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["redis"]["condition"] == "service_healthy"


def test_web_worker_and_beat_start_after_the_migrations_have_finished():
    services = compose()["services"]
    migrate = services["migrate"]
    assert "manage.py migrate --noinput" in migrate["command"]
    # Placeholder keys stop the stack before anything starts.
    assert "manage.py check --deploy --fail-level ERROR &&" in migrate["command"]
    # It exits when done: restarting it would run it forever.
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert "migrate" not in services[name]["command"], name


def test_published_ports_are_on_the_hosts_loopback_only():
    # gunicorn speaks plain HTTP and mailpit's UI has no login: only the TLS proxy on the host
    # (or someone already on it) may reach them.
    services = compose()["services"]
    published = {
        name: service["ports"] for name, service in services.items() if service.get("ports")
    }
    assert set(published) == {"web", "mailpit"}
    for name, ports in published.items():
        assert all(str(port).startswith("127.0.0.1:") for port in ports), (name, ports)
    assert services["web"]["ports"] == ["127.0.0.1:${WEB_PORT:-8000}:8000"]


def test_compose_variables_are_settings_and_point_at_the_compose_services():
    services = compose()["services"]
    environment = services["web"]["environment"]
    known = settings_names()
    # POSTGRES_PASSWORD is set only to blank the owner's password env_file would pass on.
    assert set(environment) - {"POSTGRES_PASSWORD"} <= known, set(environment) - known
    assert "@postgres:5432/" in environment["DATABASE_URL"]
    assert environment["CELERY_BROKER_URL"].startswith("redis://redis:6379")
    assert "mailpit" in environment["EMAIL_HOST"]
    postgres_env = services["postgres"]["environment"]
    assert environment["DATABASE_URL"].endswith("/" + postgres_env["POSTGRES_DB"])


def test_only_migrate_connects_as_the_tables_owner_and_it_grants_the_app_role():
    """The app's role does not own the tables, so it cannot drop the audit triggers."""
    services = compose()["services"]
    owner = services["postgres"]["environment"]["POSTGRES_USER"]
    migrate = services["migrate"]
    assert migrate["environment"]["DATABASE_URL"].startswith(f"postgres://{owner}:")
    command = migrate["command"]
    grant = "manage.py grant_app_role iamreview_app --password-env APP_DB_PASSWORD"
    assert "manage.py migrate --noinput &&" in command and grant in command
    assert command.index(grant) > command.index("manage.py migrate")
    for name in ("migrate", "web", "worker", "beat"):
        # .env (env_file) holds the owner's password: no application container keeps it.
        assert services[name]["env_file"] == ".env"
        assert services[name]["environment"]["POSTGRES_PASSWORD"] == "", name
    for name in ("web", "worker", "beat"):
        url = services[name]["environment"]["DATABASE_URL"]
        assert url.startswith("postgres://iamreview_app:${APP_DB_PASSWORD:?"), name
        assert (
            services[name]["environment"]["CELERY_BROKER_URL"]
            == (migrate["environment"]["CELERY_BROKER_URL"])
        )


def test_compose_healthcheck_command_exists(tmp_path):
    result = manage("healthcheck", env={"DATABASE_URL": f"sqlite:///{tmp_path / 'h.sqlite3'}"})
    assert result.returncode == 0, result.stderr
    assert "database: ok" in result.stdout


def test_celery_app_loads_with_its_beat_schedule():
    code = (
        "from iamreview.celery import app; app.loader.import_default_modules(); "
        "print(sorted(app.conf.beat_schedule)); print(app.conf.task_acks_late)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "heartbeat" in result.stdout and "True" in result.stdout


SQLITE_WRITERS = """
import os, sys, threading, time
import django
django.setup()
from django.db import connection, connections, transaction
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE counter (n integer)")
    cursor.execute("INSERT INTO counter VALUES (0)")
connection.close()
errors = []
def add_one():
    try:
        with transaction.atomic():
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT n FROM counter")
                n = cursor.fetchone()[0]
                time.sleep(0.2)  # the others read meanwhile: a deferred lock cannot be upgraded
                cursor.execute("UPDATE counter SET n = %s", [n + 1])
    except Exception as exc:
        errors.append(repr(exc))
    finally:
        connections.close_all()
threads = [threading.Thread(target=add_one) for _ in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
with connection.cursor() as cursor:
    cursor.execute("SELECT n FROM counter")
    print(cursor.fetchone()[0], errors)
"""


def test_the_demo_database_lets_concurrent_writers_wait_instead_of_failing(tmp_path):
    # `make run` is SQLite: parallel registrations answered 500 "database is locked".
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "AUDIT_LOG_KEY"}}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'w.sqlite3'}",
        DJANGO_SETTINGS_MODULE="iamreview.settings",
    )
    result = subprocess.run(
        [sys.executable, "-c", SQLITE_WRITERS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "4" and result.stdout.strip().endswith("[]"), result.stdout


@pytest.mark.django_db
def test_postgres_connections_price_random_reads_as_on_ssd(postgres):
    """With the server's default (4) the planner sorted a 10,000-user inventory page's table
    (14 ms) rather than walk the index matching its order (0.5 ms)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW random_page_cost")
        assert cursor.fetchone()[0] == "1.1"
