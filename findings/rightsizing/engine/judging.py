"""Whether a principal's use keeps an action: the verdict on each service (used, unused, too
new to judge, no data, stale data, not tracked) and the ``keep`` test built on it, for the
principal itself and, combined, for the members of a group whose policy is suggested."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from findings.policy import actions
from findings.policy.grants import GrantedPolicy
from findings.rightsizing.engine.usage import MemberUse, Principal, ServiceUsage

USED, UNUSED, TOO_NEW, NOT_TRACKED = "used", "unused", "too-new", "not-tracked"
NO_DATA = "no-data"  # no service last-accessed data collected for the principal at all
STALE = "stale"  # its data was read too long ago to remove anything


class _Judge:
    """Whether one principal's use keeps an action: its service used within ``unused_days``
    before its data was read, and where AWS tracks actions, the action itself."""

    def __init__(
        self,
        *,
        created: datetime,
        usage: Mapping[str, ServiceUsage] | None,
        read_at: datetime | None,
        now: datetime,
        unused_days: int,
        stale_after: timedelta | None,
        read_only_buffer: bool,
        named: frozenset[str] | set[str] = frozenset(),
    ) -> None:
        # Old enough to judge when its data was read, not today.
        self.too_new = created > (read_at or now) - timedelta(days=unused_days)
        self.stale = (
            usage is not None
            and read_at is not None
            and stale_after is not None
            and now - read_at > stale_after
        )
        self.note = ""
        if self.too_new:
            self.note = (
                f"Too new to judge: created {created:%Y-%m-%d}, less than {unused_days} "
                + ("days before its usage data was read" if read_at else "days ago")
                + "; everything is kept."
            )
        elif usage is None:
            self.note = (
                "No service last-accessed data has been collected for it; everything is kept."
            )
        elif self.stale:
            self.note = (
                f"Its service last-accessed data was last read {read_at:%Y-%m-%d %H:%M} UTC, "
                f"{(now - read_at).days} days ago (its collection has failed since): too old "
                "to remove anything; everything is kept until it is read again."
            )
        self.collected = usage is not None and not self.stale
        self.usage = usage or {}
        # Unused for so many days before the data was read, not before today.
        self.cutoff = (read_at or now) - timedelta(days=unused_days)
        self.read_only_buffer = read_only_buffer
        self.named = named
        self.now, self.unused_days, self.stale_after = now, unused_days, stale_after
        self.keep = cache(self._keep)  # tens of thousands of calls for an admin policy
        self.keep.unknown_services = _used_unknown_services(self.usage, self.verdict)
        self.keep.unknown_actions = _tracked_unknown_actions(self.usage, self.verdict)

    def verdict(self, service: str) -> str:
        if self.too_new:
            return TOO_NEW
        if self.stale:
            return STALE
        if not self.collected:
            return NO_DATA  # not "not tracked": AWS tracks it, we have not asked yet
        row = self.usage.get(service)
        if row is None:
            return NOT_TRACKED
        used = row.last_accessed is not None and row.last_accessed >= self.cutoff
        return USED if used else UNUSED

    def _keep(self, action: str) -> bool:
        if action.lower() in self.named:
            return True
        service = actions.service_of(action=action)
        state = self.verdict(service)
        if state == UNUSED:
            return False
        if state != USED or self.usage[service].actions is None:
            return True
        tracked = self.usage[service].actions
        key = action.lower()
        if key not in tracked:
            return True  # AWS does not track this action: no evidence it is unused
        last = tracked[key]
        if last is not None and last >= self.cutoff:
            return True
        return self.read_only_buffer and action in actions.read_only_actions(service=service)


def _used_unknown_services(
    usage: Mapping[str, ServiceUsage], verdict: Callable[[str], str]
) -> list[str]:
    return sorted(s for s in usage if verdict(s) == USED and not actions.actions_of(service=s))


def _tracked_unknown_actions(
    usage: Mapping[str, ServiceUsage], verdict: Callable[[str], str]
) -> list[str]:
    """Actions AWS tracks for a used service that the action database does not know (newer
    than it): `keep` judges them like any other, but no expansion of a wildcard lists them."""
    return sorted(
        action
        for service, row in usage.items()
        if verdict(service) == USED and row.actions
        for action in row.actions
        if not actions.is_known(action=action)
    )


def _group_keeper(
    policy: GrantedPolicy,
    principal: Principal,
    groups: Mapping[str, MemberUse],
    judge: _Judge,
    shared: dict[str, Any],
) -> Callable[[str], bool]:
    """A group's policy keeps what any member keeps (its members' combined use, judged once per
    group); a group without it here keeps all of it. Another policy keeps what this
    principal's use keeps."""
    if not _has_other_members(policy, principal):
        return judge.keep
    use = groups.get(policy.group)
    if use is None:
        return _keep_all
    key = f"group:{policy.group}"
    if key not in shared:
        shared[key] = _Judge(
            created=use.created,
            usage=use.usage,
            read_at=use.read_at,
            now=judge.now,
            unused_days=judge.unused_days,
            stale_after=judge.stale_after,
            read_only_buffer=judge.read_only_buffer,
        )
    group_judge, named = shared[key], judge.named

    @cache
    def keep(action: str) -> bool:
        return action.lower() in named or group_judge.keep(action)

    keep.unknown_services = group_judge.keep.unknown_services
    keep.unknown_actions = group_judge.keep.unknown_actions
    return keep


def _has_other_members(policy: GrantedPolicy, principal: Principal) -> bool:
    """Whether a group's policy reaches someone besides the principal. Counted, not scanned:
    a group every user is in (AWS's manage-your-own-credentials policy) has thousands of
    members, and this is asked for each of them."""
    members = policy.members
    if not policy.group or not members:
        return False
    return len(members) > 1 or members[0] != principal.arn


def _keep_all(action: str) -> bool:
    return True
