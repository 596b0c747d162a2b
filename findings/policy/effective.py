"""Effective permissions: what a principal may really do inside its account.

Evaluated as AWS does for identity-based access (the "policy evaluation logic" page of the IAM
User Guide): an explicit Deny anywhere wins; otherwise an identity policy must Allow and, when
the principal has a permissions boundary, the boundary must Allow too. Resource-based policies,
SCPs and session policies are out of scope (they are not in the account's evidence). A condition
is never evaluated: a grant or a deny that depends on one is carried as "conditional".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property, lru_cache
from typing import Any

from findings.policy import actions
from findings.policy.documents import Statement, statements
from findings.policy.resource_types import actions_on

DENY = "Deny"


@dataclass(frozen=True)
class Policy:
    """A document in effect on a principal: ``kind`` is inline, managed, group or boundary."""

    label: str
    kind: str
    document: dict = field(hash=False, compare=False)
    ref: str = ""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    conditional: bool
    reason: str
    grants: tuple[Statement, ...] = ()  # the Allow statements (identity) that matched
    # Deny statements that match but were set aside for their condition: whether they block a
    # particular request is for the caller to judge (findings.policy.conditions).
    conditional_denies: tuple[Statement, ...] = ()


@cache
def _statement_actions(actions_: tuple[str, ...], not_actions: tuple[str, ...]) -> frozenset[str]:
    """Lower-cased actions a statement's Action (or NotAction: every other one) covers."""
    if not_actions:
        excluded = {a.lower() for p in not_actions for a in actions.expand(pattern=p)}
        return frozenset(a.lower() for a in actions.expand(pattern="*")) - excluded
    return frozenset(a.lower() for p in actions_ for a in actions.expand(pattern=p))


def covered_actions(*, statement: Statement) -> frozenset[str]:
    return _statement_actions(statement.actions, statement.not_actions)


def matching_actions(*, pattern: str) -> frozenset[str]:
    """Lower-cased actions an action pattern (`iam:*`, `s3:Get*`) names."""
    return _statement_actions((pattern,), ())


def _unscoped(statements_: Iterable[Statement]) -> frozenset[str]:
    """Actions some Allow among the statements grants on every resource (Resource "*", or a
    NotResource, read as every resource but a few)."""
    found: set[str] = set()
    for statement in statements_:
        if statement.is_allow and (statement.not_resources or "*" in statement.resources):
            found |= covered_actions(statement=statement)
    return frozenset(found)


def _not_resource_exclusions(
    statements_: list[Statement], wanted: frozenset[str]
) -> dict[str, frozenset[str]]:
    """The wanted actions that the statements' Allows grant on every resource only through a
    NotResource, each with the resources every such Allow leaves out (two of them, leaving
    out different buckets, leave out none between them)."""
    on_all: set[str] = set()
    left_out: dict[str, frozenset[str]] = {}
    for statement in statements_:
        if not statement.is_allow:
            continue
        if statement.not_resources:
            patterns = frozenset(statement.not_resources)
            for action in covered_actions(statement=statement) & wanted:
                known = left_out.get(action)
                left_out[action] = patterns if known is None else known & patterns
        elif "*" in statement.resources:
            on_all |= covered_actions(statement=statement) & wanted
    return {a: p for a, p in left_out.items() if p and a not in on_all}


def _comparable_patterns(patterns: Iterable[str], comparable: Mapping[str, str | None]) -> set[str]:
    """Resource patterns a Deny (or an Allow's NotResource) surely leaves out, written to be
    compared between principals; one naming a variable that may be anything, or one this
    principal has no value for, leaves out nothing surely."""
    found = set()
    for pattern in patterns:
        resolved = _substitute(pattern, comparable)
        if resolved is not None and _ANY_VALUE not in resolved:
            found.add(resolved)
    return found


def _may_be_anything(patterns: Iterable[str], comparable: Mapping[str, str | None]) -> bool:
    """Whether one of the patterns names a variable that may be anything (a principal tag):
    a NotResource Deny sparing it keeps the action to no resource known here, so to none
    surely (read as confining to the others, it kept S3 to no bucket at all)."""
    resolved = (_substitute(p, comparable) for p in patterns)
    return any(r is not None and _ANY_VALUE in r for r in resolved)


def _grouped(
    by_action: Mapping[str, Iterable[str]],
) -> dict[frozenset[str], frozenset[str]]:
    """Action -> patterns inverted: each set of patterns, and the actions of exactly those."""
    groups: dict[frozenset[str], set[str]] = {}
    for action, patterns in by_action.items():
        groups.setdefault(frozenset(patterns), set()).add(action)
    return {patterns: frozenset(actions_) for patterns, actions_ in groups.items()}


def _both(first: frozenset[str], second: frozenset[str]) -> frozenset[str]:
    """The patterns naming what both sets name, judged on the text: those of one within one
    of the other's (`team-a/*` of `team-a/*` and `team-*`)."""
    return frozenset(
        p for p in first if any(pattern_within(pattern=p, within=w) for w in second)
    ) | frozenset(p for p in second if any(pattern_within(pattern=p, within=w) for w in first))


# IAM's escapes for characters a policy variable would otherwise read (IAM User Guide, "IAM
# policy elements: Variables and tags"): a literal *, ? and $. Marked with private-use
# characters until the pattern is compiled, so that they match only themselves; and a mark for
# a variable this evaluation cannot resolve.
_LITERALS = {"${*}": "\ue000", "${?}": "\ue001", "${$}": "\ue002"}
_MARKED = {mark: re.escape(text[2]) for text, mark in _LITERALS.items()}
_ANY_VALUE = "\ue003"
_SELF = "\ue004"  # ${aws:username} when principals are compared: each one's own name
SELF = _SELF  # as findings.policy.escalation compares principals
_VARIABLE = re.compile(r"\$\{[^}]*\}")
# What makes a resolved pattern more than one literal ARN: IAM's wildcards, and the marks of
# escaped characters and of unknown values.
WILDCARDS = re.compile("[*?\ue000-\ue004]")


def _typed_pattern(pattern: str) -> str:
    """A comparable pattern as `resource_types` reads it: "the principal itself" is some
    name, an escaped character one character."""
    return pattern.replace(_SELF, "*").replace(_ANY_VALUE, "*")


@cache
def _glob(pattern: str) -> re.Pattern[str]:
    body = "".join(
        ".*" if c == "*" else "." if c == "?" else _MARKED.get(c) or re.escape(c) for c in pattern
    )
    return re.compile(f"^{body}$", re.DOTALL)


def _substitute(pattern: str, variables: Mapping[str, str | None]) -> str | None:
    """The pattern with its variables resolved. A variable the principal has no value for
    (None: a role's aws:username) makes the element match nothing, as IAM reads it; one this
    evaluation cannot know (a principal tag, the source identity) is marked as any value."""
    absent = False

    def resolve(found: re.Match[str]) -> str:
        nonlocal absent
        text = found.group(0)
        if text in _LITERALS:
            return _LITERALS[text]
        name = text[2:-1].strip().lower()
        if name not in variables:
            return _ANY_VALUE
        value = variables[name]
        absent = absent or value is None
        return value or ""

    resolved = _VARIABLE.sub(resolve, pattern) if "${" in pattern else pattern
    return None if absent else resolved


def pattern_within(*, pattern: str, within: str) -> bool:
    """Whether every resource `pattern` names is one `within` names, judged on the text: a
    pattern's wildcards are matched as the characters they are."""
    return bool(_glob(within).match(pattern))


@lru_cache(maxsize=100_000)
def patterns_within(*, patterns: frozenset[str], within: frozenset[str]) -> bool:
    """Whether each of `patterns` is within one of `within`: asked for the same two sets by
    many pairs of principals (every role of an application has the same scoped grants)."""
    return patterns <= within or all(
        any(pattern_within(pattern=p, within=w) for w in within) for p in patterns
    )


@lru_cache(maxsize=100_000)
def patterns_overlap(*, patterns: frozenset[str], others: frozenset[str]) -> bool:
    """Whether some resource one of `patterns` names may be one of `others` names, judged on
    the text as `patterns_within` judges: one of them within one of the others, either way
    (`arn:aws:s3:::*` and the payroll bucket). Two patterns that meet only in the middle
    (`pay*`, `*secrets`) are not seen."""
    return not patterns.isdisjoint(others) or any(
        pattern_within(pattern=p, within=o) or pattern_within(pattern=o, within=p)
        for p in patterns
        for o in others
    )


@lru_cache(maxsize=10_000)
def has_self(*, patterns: frozenset[str]) -> bool:
    """Whether some comparable pattern names "the principal itself" (`SELF`)."""
    return any(_SELF in p for p in patterns)


def _pattern_matches(pattern: str | None, resource: str, *, unknown_matches: bool) -> bool:
    """A variable that may take any value matches anything where that grants more or denies
    less, and nothing where it would grant more by excluding, or deny more. It used to match
    only its own text, so an Allow of role/${aws:PrincipalTag/team}-* reached no role."""
    if pattern is None:
        return False
    if _ANY_VALUE in pattern:
        if not unknown_matches:
            return False
        pattern = pattern.replace(_ANY_VALUE, "*")
    return bool(_glob(pattern).match(resource))


def _matches_resource(
    statement: Statement, resource: str | None, variables: Mapping[str, str]
) -> bool:
    """Whether the statement covers the resource; with None, whether it covers some resource.
    Unresolved variables are read generously for an Allow and strictly for a Deny."""
    if resource is None:
        if statement.not_resources:
            return "*" not in statement.not_resources
        return bool(statement.resources)
    allow = statement.effect != DENY
    if statement.not_resources:
        return not any(
            _pattern_matches(_substitute(p, variables), resource, unknown_matches=not allow)
            for p in statement.not_resources
        )
    return any(
        _pattern_matches(_substitute(p, variables), resource, unknown_matches=allow)
        for p in statement.resources
    )


def pattern_names(*, pattern: str, resource: str) -> bool:
    """Whether a resolved pattern (`grant_patterns`) names the resource, as an Allow reads it."""
    return _pattern_matches(pattern, resource, unknown_matches=True)


def matches_resource(
    *, statement: Statement, resource: str | None, variables: Mapping[str, str | None]
) -> bool:
    """Whether the statement covers the resource (None: some resource), as `decide` reads it."""
    return _matches_resource(statement, resource, variables)


@dataclass
class EffectivePermissions:
    principal_arn: str
    principal_name: str
    policies: tuple[Policy, ...]
    boundary: Policy | None = None

    @cached_property
    def _variables(self) -> dict[str, str | None]:
        # AWS sets aws:username for IAM users only: for a role (or a group's own view) the
        # variable is absent, and a Resource naming it matches nothing.
        is_user = self.principal_arn.split(":", 5)[-1].startswith("user/")
        return {"aws:username": self.principal_name if is_user else None}

    @cached_property
    def _identity(self) -> list[tuple[Policy, Statement]]:
        return [
            (policy, statement)
            for policy in self.policies
            for statement in statements(document=policy.document)
        ]

    @cached_property
    def _boundary(self) -> list[Statement]:
        return [] if self.boundary is None else statements(document=self.boundary.document)

    @cached_property
    def granted(self) -> frozenset[str]:
        """Lower-cased actions some identity policy Allows (before boundary and denies)."""
        found: set[str] = set()
        for _, statement in self._identity:
            if statement.is_allow:
                found |= covered_actions(statement=statement)
        return frozenset(found)

    @cached_property
    def within_boundary(self) -> frozenset[str] | None:
        if self.boundary is None:
            return None
        found: set[str] = set()
        for statement in self._boundary:
            if statement.is_allow:
                found |= covered_actions(statement=statement)
        return frozenset(found)

    @cached_property
    def denied(self) -> frozenset[str]:
        """Actions denied on every resource without a condition (identity or boundary)."""
        found: set[str] = set()
        for statement in [s for _, s in self._identity] + self._boundary:
            if (
                statement.effect == DENY
                and not statement.has_condition
                and "*" in (statement.resources)
            ):
                found |= covered_actions(statement=statement)
        return frozenset(found)

    @cached_property
    def capped(self) -> frozenset[str]:
        """Granted by identity policies but outside the boundary."""
        if self.within_boundary is None:
            return frozenset()
        return self.granted - self.within_boundary - self.denied

    @cached_property
    def allowed(self) -> frozenset[str]:
        """Lower-cased actions allowed on at least some resource, maybe under a condition."""
        allowed = self.granted - self.denied
        if self.within_boundary is not None:
            allowed &= self.within_boundary
        return frozenset(allowed)

    @cached_property
    def everywhere(self) -> frozenset[str]:
        """Allowed actions that some Allow grants on every resource (Resource "*", or a
        NotResource), as `allowed` counts them, and the boundary too; the others are granted
        on named resources."""
        found = _unscoped(statement for _, statement in self._identity) & self.allowed
        if self.boundary is not None:
            found &= _unscoped(self._boundary)
        return found

    @cached_property
    def bounded_resources(self) -> frozenset[str]:
        """Actions the identity policies grant on every resource that the boundary allows on
        named resources only: capped by resource, as `capped` counts those capped by action."""
        if self.boundary is None:
            return frozenset()
        return (_unscoped(s for _, s in self._identity) & self.allowed) - self.everywhere

    @cached_property
    def scoped_actions(self) -> frozenset[str]:
        """Allowed actions granted on named resources only."""
        return self.allowed - self.everywhere

    @cached_property
    def scoped_resources(self) -> dict[str, frozenset[str]]:
        """Allowed action -> the resource patterns its Allows name, for the actions that are
        not allowed everywhere, written to be compared between principals: `${aws:username}`
        stays "the principal itself" (two users with AWS's manage-your-own-credentials policy
        have the same grant, not each other's), and a variable that may be anything reads as
        "*"."""
        is_user = self._variables["aws:username"] is not None
        comparable = {"aws:username": _SELF if is_user else None}
        found: dict[str, set[str]] = {}
        # The identity's patterns; for what it grants everywhere, the boundary's.
        sources = [
            (statement, self.scoped_actions - self.bounded_resources)
            for _, statement in self._identity
        ] + [(statement, self.bounded_resources) for statement in self._boundary]
        for statement, wanted in sources:
            if not statement.is_allow or statement.not_resources or "*" in statement.resources:
                continue
            patterns = {
                resolved.replace(_ANY_VALUE, "*")
                for p in statement.resources
                if (resolved := _substitute(p, comparable)) is not None
            }
            for action in covered_actions(statement=statement) & wanted:
                found.setdefault(action, set()).update(patterns)
        return {action: frozenset(patterns) for action, patterns in found.items()}

    @cached_property
    def excluded(self) -> dict[frozenset[str], frozenset[str]]:
        """For actions in `everywhere` that the principal still may not use on some resources:
        each set of resource patterns left out, and the actions left out of exactly those
        (few per principal, as `scoped_groups`). Left out by a Deny without a condition that
        names resources, or, where no Allow (or no boundary Allow) is on "*", by the
        NotResource of those that grant it; each pattern only of the actions whose resource
        types it may name (`resource_types.actions_on`: a Deny of `*` on the security role
        leaves out no CloudWatch Logs action, one on the payroll bucket not
        `s3:ListAllMyBuckets`, which is requested on "*"). Patterns are written as
        `scoped_resources` writes them; a variable that may be anything leaves out nothing.
        `everywhere` alone read `s3:*` beside a Deny of the payroll bucket as every bucket."""
        return self._left_out[0]

    @cached_property
    def confined(self) -> dict[frozenset[str], frozenset[str]]:
        """For actions in `everywhere` that a Deny with a NotResource (and no condition) keeps
        to a few resources (Deny `s3:*` NotResource the team's bucket: a data perimeter): each
        set of resource patterns they are still allowed on, and the actions kept to exactly
        those. Two such Denies keep an action to the patterns of one within the other's."""
        return self._left_out[1]

    @cached_property
    def _left_out(
        self,
    ) -> tuple[dict[frozenset[str], frozenset[str]], dict[frozenset[str], frozenset[str]]]:
        if not self.everywhere:
            return {}, {}
        found: dict[str, set[str]] = {}
        kept: dict[str, frozenset[str]] = {}
        comparable = self._comparable

        def leave_out(actions_: frozenset[str], patterns: Iterable[str]) -> None:
            for pattern in patterns:
                typed = actions_on(actions_=actions_, pattern=_typed_pattern(pattern))
                for action in typed:
                    found.setdefault(action, set()).add(pattern)

        for statement in [s for _, s in self._identity] + self._boundary:
            if statement.effect != DENY or statement.has_condition or "*" in statement.resources:
                continue
            covered = covered_actions(statement=statement) & self.everywhere
            if not covered:
                continue
            if statement.not_resources:
                if _may_be_anything(statement.not_resources, comparable):
                    continue  # spares what it names, which may be anything: confines nothing
                within = frozenset(_comparable_patterns(statement.not_resources, comparable))
                for action in covered:
                    known = kept.get(action)
                    kept[action] = within if known is None else _both(known, within)
            else:
                leave_out(covered, _comparable_patterns(statement.resources, comparable))
        for source in ([s for _, s in self._identity], self._boundary):
            by_patterns: dict[frozenset[str], set[str]] = {}
            for action, patterns in _not_resource_exclusions(source, self.everywhere).items():
                by_patterns.setdefault(patterns, set()).add(action)
            for patterns, actions_ in by_patterns.items():
                leave_out(frozenset(actions_), _comparable_patterns(patterns, comparable))
        return _grouped(found), _grouped(kept)

    @cached_property
    def confined_actions(self) -> frozenset[str]:
        """The actions of `confined`: in `everywhere`, yet allowed on a few resources only."""
        return frozenset(a for actions_ in self.confined.values() for a in actions_)

    @cached_property
    def unexcluded(self) -> frozenset[str]:
        """Actions allowed on every resource, none left out (`everywhere` but `excluded` and
        `confined`)."""
        left_out = {a for actions_ in self.excluded.values() for a in actions_}
        left_out |= self.confined_actions
        return self.everywhere - left_out if left_out else self.everywhere

    @cached_property
    def _comparable(self) -> dict[str, str | None]:
        is_user = self._variables["aws:username"] is not None
        return {"aws:username": _SELF if is_user else None}

    @cached_property
    def scoped_groups(self) -> dict[frozenset[str], frozenset[str]]:
        """scoped_resources inverted: each set of resource patterns, and the actions granted on
        exactly those. Few per principal (one per kind of statement), so comparing two
        principals compares sets of patterns, not each of hundreds of actions."""
        found: dict[frozenset[str], set[str]] = {}
        for action, patterns in self.scoped_resources.items():
            found.setdefault(patterns, set()).add(action)
        return {patterns: frozenset(actions_) for patterns, actions_ in found.items()}

    @cached_property
    def is_admin(self) -> bool:
        """Every action of the database on every resource, with no condition."""
        everything = _statement_actions(("*",), ())
        return everything <= self.allowed and self.decide(action="iam:*", resource="*").allowed

    def grant_patterns(self, *, action: str) -> tuple[frozenset[str], tuple[str, ...]] | None:
        """What the Allows of the action name, resolved for this principal: (single ARNs,
        patterns with wildcards). Only what they name can `decide` allow the action on, so a
        caller weighing many resources asks `decide` of those alone. None: not to be narrowed
        (a NotResource, or the action not allowed on some resource)."""
        decision = self.decide(action=action)
        if not decision.allowed:
            return None
        literal: set[str] = set()
        patterns: list[str] = []
        for statement in decision.grants:
            if statement.not_resources:
                return None
            for pattern in statement.resources:
                resolved = _substitute(pattern, self._variables)
                if resolved is None:
                    continue  # a variable this principal has no value for: names nothing
                if WILDCARDS.search(resolved):
                    patterns.append(resolved)
                else:
                    literal.add(resolved)
        return frozenset(literal), tuple(dict.fromkeys(patterns))

    def allows_everywhere(self, *, action: str) -> bool:
        """Whether `decide` allows the action on every resource, known without asking it of
        each: an Allow of it on "*" (and in the boundary too), and no Deny naming it at all."""
        wanted = _statement_actions((action,), ())
        if not wanted:
            return False
        every = [s for _, s in self._identity] + self._boundary
        if any(s.effect == DENY and wanted & covered_actions(statement=s) for s in every):
            return False

        def on_everything(found: Iterable[Statement]) -> bool:
            return any(
                s.is_allow
                and not s.not_resources
                and "*" in s.resources
                and wanted <= covered_actions(statement=s)
                for s in found
            )

        return on_everything(s for _, s in self._identity) and (
            self.boundary is None or on_everything(self._boundary)
        )

    def allows(self, *, action: str) -> bool:
        return action.lower() in self.allowed

    def allows_any(self, *, patterns: Iterable[str]) -> bool:
        return any(a.lower() in self.allowed for p in patterns for a in actions.expand(pattern=p))

    def decide(self, *, action: str, resource: str | None = None) -> Decision:
        """The decision for one action on one resource (None: on some resource).

        For a wildcard action (``iam:*``) every action it matches must be allowed.
        """
        wanted = _statement_actions((action,), ())
        if not wanted:
            return Decision(False, False, "unknown action")
        conditional = False
        conditional_denies = []
        for policy, statement in self._identity + [(self.boundary, s) for s in self._boundary]:
            if statement.effect != DENY or not wanted & covered_actions(statement=statement):
                continue
            if resource is None and ("*" not in statement.resources or statement.not_resources):
                conditional = True  # denied on some resources only (NotResource spares some)
                continue
            if not _matches_resource(statement, resource or "*", self._variables):
                continue
            if statement.has_condition:
                conditional = True
                conditional_denies.append(statement)
                continue
            return Decision(False, False, f"explicit deny in {policy.label}")
        grants = []
        grant_conditional = True
        remaining = set(wanted)
        for _, statement in self._identity:
            if not statement.is_allow or not _matches_resource(
                statement, resource, self._variables
            ):
                continue
            covered = wanted & covered_actions(statement=statement)
            if covered:
                grants.append(statement)
                remaining -= covered
                grant_conditional = grant_conditional and statement.has_condition
        if remaining:
            return Decision(False, False, "not allowed by any identity policy", tuple(grants))
        if self.boundary is not None:
            inside = set(wanted)
            boundary_conditional = True
            for statement in self._boundary:
                if statement.is_allow and _matches_resource(statement, resource, self._variables):
                    covered = wanted & covered_actions(statement=statement)
                    if covered:
                        inside -= covered
                        boundary_conditional = boundary_conditional and statement.has_condition
            if inside:
                return Decision(
                    False, False, f"outside the permissions boundary {self.boundary.label}"
                )
            conditional = conditional or boundary_conditional
        return Decision(
            True,
            conditional or grant_conditional,
            "allowed",
            tuple(grants),
            tuple(conditional_denies),
        )

    def summary(self) -> dict[str, Any]:
        return {
            "boundary": self.boundary.label if self.boundary else None,
            "granted": len(self.granted),
            "allowed": len(self.allowed),
            "capped_by_boundary": len(self.capped),
            "denied": len(self.denied & self.granted),
        }


def effective_permissions(
    *,
    principal_arn: str,
    principal_name: str,
    policies: Iterable[Policy],
    boundary: Policy | None = None,
) -> EffectivePermissions:
    return EffectivePermissions(principal_arn, principal_name, tuple(policies), boundary)
