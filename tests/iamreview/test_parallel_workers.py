"""The suite runs under pytest-xdist: each worker must have a Redis database of its own."""

import pytest

from tests.conftest import redis_url_of_this_worker


@pytest.mark.parametrize(
    ("url", "worker", "expected"),
    [
        ("redis://127.0.0.1:6379/15", "", "redis://127.0.0.1:6379/15"),
        ("redis://127.0.0.1:6379/15", "master", "redis://127.0.0.1:6379/15"),
        ("redis://127.0.0.1:6379/15", "gw0", "redis://127.0.0.1:6379/15"),
        ("redis://127.0.0.1:6379/15", "gw1", "redis://127.0.0.1:6379/14"),
        ("redis://127.0.0.1:6379/1", "gw3", "redis://127.0.0.1:6379/14"),
        ("redis://127.0.0.1:6379", "gw1", "redis://127.0.0.1:6379/15"),
    ],
)
def test_each_worker_takes_a_redis_database_of_its_own(url, worker, expected):
    assert redis_url_of_this_worker(url, worker) == expected


def test_two_workers_never_share_a_database():
    urls = {redis_url_of_this_worker("redis://h:6379/15", f"gw{n}") for n in range(16)}
    assert len(urls) == 16
