"""Service control policies: what an AWS Organization lets an account's principals do at most.

An SCP grants nothing. A request is possible only if, at every level from the organization's
root down to the account (the root, each organizational unit, the account itself), some SCP
attached there Allows it, and no SCP anywhere Denies it (AWS Organizations User Guide, "SCP
evaluation"). They do not apply to the management account or to service-linked roles.

Escalation reads them as a cap on the methods it finds. Only what an SCP surely does counts: a
Deny whose condition names a key other than the principal's own ARN or account (a region, MFA,
a tag) may be avoided, so it blocks nothing here, and an Allow with a condition is taken to
allow. A method an SCP blocks is reported as blocked, with the policy that blocks it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from findings.policy.conditions import condition_surely_holds
from findings.policy.documents import Statement, statements
from findings.policy.effective import covered_actions, matches_resource, matching_actions

DENY = "Deny"
# Condition keys whose value is known for a principal of the account: an SCP Deny that holds
# "unless the principal is the platform team's role" is judged for each principal.
PRINCIPAL_KEYS = ("aws:principalarn", "aws:principalaccount")


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""


ALLOWED = Verdict(True)


@dataclass(frozen=True)
class Level:
    """The SCPs attached at one level of the account's place in the organization."""

    label: str  # "root", "OU Workloads (ou-ab12-cdef3456)", "account 111122223333"
    policies: tuple[tuple[str, tuple[Statement, ...]], ...]  # (policy name, its statements)


@dataclass
class Guardrails:
    """The SCPs in effect on one member account, root first."""

    account_id: str
    levels: tuple[Level, ...]
    _verdicts: dict[tuple[str, str | None, str], Verdict] = field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def policy_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for level in self.levels for name, _ in level.policies))

    def decide(self, *, action: str, resource: str | None, principal_arn: str) -> Verdict:
        """Whether the SCPs let the principal make the request (resource None: on some
        resource). Asked for the same few actions and targets by many principals: cached."""
        key = (action, resource, principal_arn)
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = self._decide(action, resource, principal_arn)
            self._verdicts[key] = verdict
        return verdict

    def _decide(self, action: str, resource: str | None, principal_arn: str) -> Verdict:
        wanted = matching_actions(pattern=action)
        if not wanted:
            return ALLOWED  # an action the database does not know: nothing to judge it by
        context = {"aws:principalarn": principal_arn, "aws:principalaccount": self.account_id}
        # Resources name them too (`arn:aws:iam::${aws:PrincipalAccount}:role/Platform*`).
        variables = {**_variables(principal_arn), **context}
        for level in self.levels:
            for name, found in level.policies:
                for statement in found:
                    if statement.effect == DENY and _denies(
                        statement, wanted, resource, variables, context
                    ):
                        return Verdict(False, f"denied by SCP {name} ({level.label})")
        for level in self.levels:
            if not level.policies or not all(found for _, found in level.policies):
                # A policy read as no statement (AWS keeps one valid SCP on every level): what
                # the level allows is not known, so it blocks nothing.
                continue
            remaining = set(wanted)
            for _, found in level.policies:
                for statement in found:
                    if statement.is_allow and _allows_resource(statement, resource, variables):
                        remaining -= covered_actions(statement=statement)
                if not remaining:
                    break
            if remaining:
                return Verdict(False, f"not allowed by any SCP attached to the {level.label}")
        return ALLOWED


def _variables(principal_arn: str) -> dict[str, str | None]:
    resource = principal_arn.split(":", 5)[-1]
    is_user = resource.startswith("user/")
    return {"aws:username": resource.rpartition("/")[2] if is_user else None}


def _allows_resource(
    statement: Statement, resource: str | None, variables: Mapping[str, str | None]
) -> bool:
    """An Allow naming no resource at all is read as every resource (SCPs written before they
    took resources); otherwise as identity policies read it."""
    if not statement.resources and not statement.not_resources:
        return True
    return matches_resource(statement=statement, resource=resource, variables=variables)


_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def _with_known_values(statement: Statement, context: Mapping[str, str]) -> Statement | None:
    """The statement with the policy variables of its condition values filled in from what
    is known of the principal (`arn:aws:iam::${aws:PrincipalAccount}:role/Admin`); None when
    a condition is not a map of maps, or names a variable not known here: it may not hold."""
    condition = statement.raw.get("Condition")
    if not isinstance(condition, Mapping) or not all(
        isinstance(block, Mapping) for block in condition.values()
    ):
        return None
    unknown = False

    def fill(value: Any) -> Any:
        nonlocal unknown
        if isinstance(value, list):
            return [fill(item) for item in value]
        if not isinstance(value, str) or "${" not in value:
            return value

        def known(found: re.Match[str]) -> str:
            nonlocal unknown
            name = found.group(1).lower()
            if name not in context:
                unknown = True
                return found.group(0)
            return context[name]

        return _VARIABLE.sub(known, value)

    filled = {
        operator: {key: fill(values) for key, values in block.items()}
        for operator, block in condition.items()
    }
    return None if unknown else replace(statement, condition=filled)


def _denies(
    statement: Statement,
    wanted: frozenset[str],
    resource: str | None,
    variables: Mapping[str, str | None],
    context: Mapping[str, str],
) -> bool:
    if not wanted & covered_actions(statement=statement):
        return False
    if resource is None:
        # On some resource: only a Deny of every resource surely stops the request.
        if statement.not_resources or "*" not in statement.resources:
            return False
    elif not matches_resource(statement=statement, resource=resource, variables=variables):
        return False
    if statement.raw.get("Condition", {}) != {}:
        filled = _with_known_values(statement, context)
        return filled is not None and condition_surely_holds(statement=filled, values=context)
    return True


def guardrails_from(
    *, account_id: str, levels: Iterable[Mapping[str, Any]] | None
) -> Guardrails | None:
    """The guardrails of an account from its stored SCP levels (`AwsAccount.scp_levels`);
    None for None (SCPs not known, or not applying)."""
    if levels is None:
        return None
    return Guardrails(
        account_id=account_id,
        levels=tuple(
            Level(
                label=level_label(level=level),
                policies=tuple(
                    (
                        str(policy.get("name") or policy.get("id") or "?"),
                        tuple(statements(document=_mapping(policy.get("document")))),
                    )
                    for policy in _list(level.get("policies"))
                    if isinstance(policy, Mapping)
                ),
            )
            for level in levels
            if isinstance(level, Mapping)
        ),
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


LEVEL_KINDS = {"root": "root", "ou": "OU", "account": "account"}


def level_label(*, level: Mapping[str, Any]) -> str:
    kind = LEVEL_KINDS.get(str(level.get("kind")), "level")
    name, target = str(level.get("name") or ""), str(level.get("id") or "")
    if kind == "account":
        return f"account {target}"
    if kind == "root":
        return "organization root"
    return f"{kind} {name} ({target})" if name and name != target else f"{kind} {target}"
