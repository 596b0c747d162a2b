"""A worker killed (SIGKILL) in the middle of storing: the run finishes, or fails and is retried,
within a minute, and the data is stored once: no partial rows, no duplicates.

Real Celery workers (subprocesses) on the real Redis and the test's PostgreSQL database; AWS is
a moto server. To catch the worker mid-storing, the test holds a lock on the credential report
entries table: the worker has written its stored report (inside its transaction) and waits on
the lock to write the rows when it is killed.
"""

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import boto3
import psycopg2
import pytest
from django.db import connection
from moto.server import ThreadedMotoServer

from findings.collection.registry import add_account
from findings.collection.runs import claim_run
from findings.models import CollectionRun, CredentialReport, CredentialReportEntry, Source

ROOT = Path(__file__).resolve().parents[3]
CELERY = str(Path(sys.executable).with_name("celery"))
HUB = "123456789012"  # moto's account
USERS = ["alice", "bob", "carol"]
pytestmark = pytest.mark.services


@pytest.fixture
def simulated_aws():
    with socket_port() as port:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset).close()  # moto's state is process-wide: start empty
    iam = boto3.client("iam", endpoint_url=endpoint)
    for name in USERS:
        iam.create_user(UserName=name)
    iam.generate_credential_report()
    yield endpoint
    urllib.request.urlopen(reset).close()
    server.stop()


class socket_port:
    def __enter__(self) -> int:
        import socket

        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        return self.socket.getsockname()[1]

    def __exit__(self, *exc) -> None:
        self.socket.close()


@pytest.fixture
def worker_env(committed_db, redis_url, simulated_aws):
    queue = f"iamreview-crash-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    db = connection.settings_dict
    env.update(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        CELERY_BROKER_URL=redis_url,
        CELERY_TASK_DEFAULT_QUEUE=queue,  # the sweep's retries come back to this test's worker
        DJANGO_SETTINGS_MODULE="iamreview.settings",
        AWS_ENDPOINT_URL=simulated_aws,
        COLLECT_HEARTBEAT_SECONDS="1",
        COLLECT_STALE_AFTER_SECONDS="3",
    )
    return env


class Worker:
    """`celery -A iamreview worker` in a process of its own, its output in a file."""

    def __init__(self, env: dict, log: Path, pool: str):
        self.log = log
        self.process = subprocess.Popen(
            [CELERY, "-A", "iamreview", "worker", f"--pool={pool}", "--concurrency=1"]
            + ["--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"]
            + ["-Q", env["CELERY_TASK_DEFAULT_QUEUE"]],
            cwd=ROOT,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        until(lambda: "ready." in log.read_text(), seconds=60, what=f"worker ready\n{self}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __str__(self) -> str:
        return self.log.read_text()[-3000:]


def until(condition, *, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.2)
    raise AssertionError(f"Timed out waiting for {what}")


def lock_the_entries_table() -> psycopg2.extensions.connection:
    db = connection.settings_dict
    holder = psycopg2.connect(dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"])
    with holder.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {CredentialReportEntry._meta.db_table} IN EXCLUSIVE MODE")
    return holder


def worker_waits_on_the_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = %s::regclass",
            [CredentialReportEntry._meta.db_table],
        )
        return cursor.fetchone()[0] > 0


def kill_the_worker_mid_storing(run: CollectionRun, holder) -> int:
    """Wait until the worker is inside its storage transaction, SIGKILL it, let go of the lock.
    The lock goes whatever happens: held, it would hang the test database's teardown."""
    try:
        until(worker_waits_on_the_lock, seconds=30, what="the worker to start storing")
        run.refresh_from_db()
        assert run.status == CollectionRun.Status.RUNNING
        assert run.progress_message.startswith("Storing")
        pid = int(run.worker.rpartition(":")[2])
        os.kill(pid, signal.SIGKILL)
    finally:
        holder.rollback()
        holder.close()
    return pid


def stored_once() -> None:
    assert CredentialReport.objects.count() == 1
    names = list(CredentialReportEntry.objects.values_list("user", flat=True))
    assert sorted(names) == USERS  # moto has no root user


def test_a_worker_killed_while_storing_is_replaced_and_the_redelivered_task_resumes_the_run(
    worker_env, celery_on_redis, tmp_path
):
    account = add_account(account_id=HUB, name="Hub")
    run = claim_run(account=account, source=Source.CREDENTIAL_REPORT, trigger="manual")
    holder = lock_the_entries_table()
    # The prefork pool: its parent sees the child die, rejects the task back to the queue
    # (task_reject_on_worker_lost) and starts a new child, which gets the task again.
    worker = Worker(worker_env, tmp_path / "worker.log", pool="prefork")
    started = time.monotonic()
    try:
        celery_on_redis.send_task(
            "findings.collect_source", args=[run.pk], queue=worker_env["CELERY_TASK_DEFAULT_QUEUE"]
        )
        killed = kill_the_worker_mid_storing(run, holder)

        def finished():
            run.refresh_from_db()
            return not run.is_active

        until(finished, seconds=60, what=f"the run to finish\n{worker}")
    finally:
        worker.stop()

    assert time.monotonic() - started < 60
    assert run.status == CollectionRun.Status.SUCCEEDED, run.error
    assert run.attempts == 2
    assert run.worker != f"{run.worker.partition(':')[0]}:{killed}"
    stored_once()
    assert CollectionRun.objects.count() == 1


def test_a_solo_worker_killed_while_storing_is_failed_by_the_sweep_and_retried_by_a_new_worker(
    worker_env, celery_on_redis, tmp_path
):
    account = add_account(account_id=HUB, name="Hub")
    run = claim_run(account=account, source=Source.CREDENTIAL_REPORT, trigger="schedule")
    holder = lock_the_entries_table()
    # The solo pool: killing it leaves the message unacked in Redis until the visibility
    # timeout (an hour); the beat's sweep is what gets the source collected again.
    first = Worker(worker_env, tmp_path / "first.log", pool="solo")
    started = time.monotonic()
    try:
        celery_on_redis.send_task(
            "findings.collect_source", args=[run.pk], queue=worker_env["CELERY_TASK_DEFAULT_QUEUE"]
        )
        kill_the_worker_mid_storing(run, holder)
        first.process.wait(timeout=10)
    finally:
        first.stop()

    second = Worker(worker_env, tmp_path / "second.log", pool="solo")
    try:
        time.sleep(3)  # COLLECT_STALE_AFTER_SECONDS without a heartbeat
        celery_on_redis.send_task(  # what the beat sends every COLLECT_SWEEP_SECONDS
            "findings.sweep_stale_runs", queue=worker_env["CELERY_TASK_DEFAULT_QUEUE"]
        )

        def retry_finished():
            retry = CollectionRun.objects.filter(retry_of=run).first()
            return retry if retry and not retry.is_active else None

        retry = until(retry_finished, seconds=45, what=f"the retry to finish\n{second}")
    finally:
        second.stop()

    assert time.monotonic() - started < 60
    run.refresh_from_db()
    assert run.status == CollectionRun.Status.FAILED
    assert run.error.startswith("Worker stopped: no heartbeat from")
    assert retry.status == CollectionRun.Status.SUCCEEDED, retry.error
    stored_once()
