"""Webhook tests deliver to servers on 127.0.0.1: a proxy in the environment running them
(a CI runner's, a developer's) is not theirs to use. Those that test a proxy set their own."""

import pytest


@pytest.fixture(autouse=True)
def no_proxy_from_the_environment(monkeypatch):
    for variable in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(variable, raising=False)
        monkeypatch.delenv(variable.upper(), raising=False)
