"""Requests at the same moment, for race tests on a committed database (`committed_db`)."""

import threading
import time
from collections.abc import Callable

from django.db import connection


def at_once(*calls: Callable[[], object], timeout: float = 30) -> list:
    """Run the calls in threads released together; what each returned, or the exception it
    raised, in the order they finished. Each thread closes its own database connection."""
    barrier = threading.Barrier(len(calls))
    outcomes: list = []

    def run(call: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=10)
            outcomes.append(call())
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return outcomes


def waiting_for_locks(count: int = 1, *, timeout: float = 10) -> bool:
    """Whether `count` other connections are soon waiting for a lock (PostgreSQL): a request
    held mid-way by a lock the test holds."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # fresh within a transaction
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND datname = current_database()"
            )
            if cursor.fetchone()[0] >= count:
                return True
            time.sleep(0.05)
    return False
