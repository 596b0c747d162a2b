"""What the engine is given: the principal, its service last-accessed data by service, and
what is known of the other members of a group whose policy is suggested, with ``combined_use``
merging the members' use into one."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class ServiceUsage:
    """Service last accessed for one service. ``actions`` is None where AWS tracks the
    service only as a whole; otherwise action name (lower case, `s3:getobject`) -> last use."""

    service: str
    last_accessed: datetime | None
    actions: Mapping[str, datetime | None] | None = field(default=None, hash=False)


@dataclass(frozen=True)
class Principal:
    arn: str
    name: str
    kind: str  # user or role
    created: datetime


@dataclass(frozen=True)
class MemberUse:
    """What is known of another member of a group whose policy is suggested: a group's policy
    keeps what any member used."""

    created: datetime
    usage: Mapping[str, ServiceUsage] | None = field(default=None, hash=False)
    read_at: datetime | None = None


def combined_use(*, uses: Iterable[MemberUse | None]) -> MemberUse | None:
    """What a group's members used, as one: a service's latest use by any of them, each
    action's latest, the newest member's creation (too new if any is) and the oldest read
    (stale if any is). None (keep everything) when a member is unknown; no usage when one has
    none. An action list is merged only where every member has one for the service."""
    uses = list(uses)
    if not uses or any(u is None for u in uses):
        return None
    created = max(u.created for u in uses)
    reads = [u.read_at for u in uses if u.read_at is not None]
    read_at = min(reads) if reads else None
    if any(u.usage is None for u in uses):
        return MemberUse(created=created, usage=None, read_at=read_at)
    merged: dict[str, ServiceUsage] = {}
    for use in uses:
        for service, row in use.usage.items():
            seen = merged.get(service)
            if seen is None:
                merged[service] = row
                continue
            lasts = [t for t in (seen.last_accessed, row.last_accessed) if t is not None]
            if seen.actions is None or row.actions is None:
                actions_seen = None
            else:
                actions_seen = dict(seen.actions)
                for action, at in row.actions.items():
                    before = actions_seen.get(action)
                    actions_seen[action] = (
                        max(t for t in (before, at) if t) if (before or at) else None
                    )
            merged[service] = ServiceUsage(
                service=service,
                last_accessed=max(lasts) if lasts else None,
                actions=actions_seen,
            )
    return MemberUse(created=created, usage=merged, read_at=read_at)
