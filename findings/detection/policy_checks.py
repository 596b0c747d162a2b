"""Checks on effective permissions: escalation, unscoped resources, exclusions, MFA, boundaries.

Each reads the account's effective permissions (findings.policy), built once per detection run
from evidence already loaded: no query of its own.
"""

import json
from collections.abc import Iterator, Mapping
from functools import cache

from policy_sentry.querying.actions import get_action_data

from findings.detection.evidence import Check, Detected, Evidence, Principal, Thresholds
from findings.policy.actions import database_version, expand, spelling
from findings.policy.documents import Statement, document_hash, statements
from findings.policy.effective import EffectivePermissions, covered_actions
from findings.policy.escalation import (
    blocked_methods,
    escalation_methods,
    escalation_path,
    own_deny_methods,
)
from findings.policy.escalation_methods import METHODS_BY_ID
from findings.policy.escalation_requests import admitted, partition, without_boundary

AD = "authorization-details"
MFA_AGE_KEY = "aws:multifactorauthage"
DESTRUCTIVE_PREFIXES = ("delete", "terminate", "disable", "remove", "detach", "deregister", "purge")
# Actions that create or widen principals (AWS IAM User Guide, "Permissions boundaries": the
# delegated-administrator example requires iam:PermissionsBoundary on each of them).
CREATION_ACTIONS = (
    "iam:CreateUser",
    "iam:CreateRole",
    "iam:PutUserPolicy",
    "iam:PutRolePolicy",
    "iam:AttachUserPolicy",
    "iam:AttachRolePolicy",
    "iam:PutUserPermissionsBoundary",
    "iam:PutRolePermissionsBoundary",
)


def _library() -> dict:
    return {"library": database_version()}


def _subject(principal: Principal) -> tuple[str, str, str, str]:
    return principal.arn, principal.arn, principal.kind, principal.name


def _principals(ev: Evidence) -> Iterator[Principal]:
    return (p for p in ev.principals if p.arn in ev.effective)


def privilege_escalation(*, ev: Evidence, t: Thresholds) -> Iterator[Detected]:
    account = ev.policy_account
    for principal in _principals(ev):
        perms = ev.effective[principal.arn]
        if perms.is_admin:
            # An administrator already (the full-admin finding says so), but for what a Deny
            # of its own may take away (Allow * beside a Deny on the security role): taking
            # that Deny off is all it may gain.
            found = own_deny_methods(principal_arn=principal.arn, account=account)
            methods = [m for m in found if not m.blocked_by]
            blocked = [m for m in found if m.blocked_by]
            path = []
        else:
            methods = escalation_methods(principal_arn=principal.arn, account=account)
            blocked = blocked_methods(principal_arn=principal.arn, account=account)
            path = escalation_path(principal_arn=principal.arn, account=account)
        if not methods and not path:
            continue
        yield Detected(
            "privilege-escalation",
            *_subject(principal),
            {
                "methods": [
                    {
                        "method": m.method,
                        "source": m.source,
                        "actions": list(m.actions),
                        # A CI role passing any role names every role of the account, in
                        # each of some twenty methods: the first ones and how many.
                        **_at_most("targets", _administrators_first(m.targets, account)),
                        "conditional": m.conditional,
                        **({"removes": list(m.removes)} if m.removes else {}),
                        # Only these approved policies may be attached (iam:PolicyARN).
                        **({"attaches_only": list(m.attaches_only)} if m.attaches_only else {}),
                    }
                    for m in methods
                ],
                "path": " -> ".join(path) if path else None,
                "boundary": perms.boundary.label if perms.boundary else None,
                **_scps(blocked, account),
                **_library(),
            },
            **_escalation_severity(methods, account),
        )


def _administrators_first(targets: tuple[str, ...], account) -> list[str]:
    """The targets, administrators first: the first ones listed show what made the finding
    critical ("Reaches an administrator")."""
    return sorted(
        targets,
        key=lambda arn: not ((p := account.permissions(arn)) is not None and p.is_admin),
    )


def _scps(blocked: list, account) -> dict:
    """The organization's SCPs weighed, and the methods they block: a reviewer sees that the
    finding already allows for them. Nothing when no SCPs are known to apply."""
    if account.guardrails is None:
        return {}
    return {
        "scps": list(account.guardrails.policy_names),
        "blocked_by_scps": [{"method": m.method, "why": m.blocked_by} for m in blocked],
    }


OWN_DENY = "own-deny"  # taking off a Deny of its own policies: what the Deny took comes back

# Methods that write a policy (a policy version, an inline or attached policy, a boundary):
# whatever the principal likes, an administrator's access included.
WRITES_ANY_POLICY = frozenset(
    {"in-use", "unbounded", "unbounded-attach", "group-attach", "has-members", "own-boundary"}
)


def _escalation_severity(methods: list, account) -> dict:
    """Critical when a method writes any policy or reaches an administrator; high when it
    reaches only principals with some more access (a role reading one more bucket is no
    administrator), or only a chain of roles does. Attaching only the approved policies an
    iam:PolicyARN condition names writes no policy: critical only when one of them makes a
    target an administrator, high otherwise, the policies named."""
    if not methods:
        return {
            "severity": "high",
            "severity_reason": "Reaches an administrator through other roles",
        }
    attaching: list[str] = []
    for method in methods:
        rule = METHODS_BY_ID[method.method].rule
        if rule in WRITES_ANY_POLICY and method.attaches_only:
            if any(
                account.makes_administrator(policy, _target_arn(target, method, account))
                for policy in method.attaches_only
                for target in method.targets
            ):
                return {
                    "severity_reason": "Can attach "
                    + _policy_names(method.attaches_only)
                    + ", which makes an administrator"
                }
            attaching.extend(method.attaches_only)
            continue
        if rule in WRITES_ANY_POLICY:
            return {"severity_reason": "Can write itself any policy, an administrator's too"}
        # An own-deny method's target is the principal itself (an administrator but for what
        # its Deny takes away, maybe): it reaches no one else.
        if rule != OWN_DENY and any(
            (target := account.permissions(arn)) is not None and target.is_admin
            for arn in method.targets
        ):
            return {"severity_reason": "Reaches an administrator"}
    if attaching:
        return {
            "severity": "high",
            "severity_reason": "Can attach "
            + _policy_names(tuple(dict.fromkeys(attaching)))
            + ", in use and giving more access, no administrator's",
        }
    if all(METHODS_BY_ID[m.method].rule == OWN_DENY for m in methods):
        return {
            "severity": "high",
            "severity_reason": "Can remove a Deny of its own and regain what the Deny takes away",
        }
    return {
        "severity": "high",
        "severity_reason": "Reaches principals with more access, none of them an administrator",
    }


def _policy_names(arns: tuple[str, ...]) -> str:
    return ", ".join(arn.rpartition("/")[2] for arn in arns)


def _target_arn(target: str, method, account) -> str:
    """A method's target as an ARN: "(any new role it creates)" is one yet to be created."""
    if target.startswith("(any new "):
        return account.unknown(METHODS_BY_ID[method.method].target_kind)
    return target


@cache
def _action_facts(action: str) -> tuple[str, tuple[str, ...]]:
    """(access level, resource ARN formats); no formats when only "*" is supported."""
    service, _, name = action.partition(":")
    rows = (get_action_data(service, name) or {}).get(service) or []
    formats = tuple(
        sorted({r["resource_arn_format"] for r in rows if r.get("resource_arn_format") != "*"})
    )
    level = rows[0]["access_level"] if rows else ""
    return level, formats


def _is_broad_pattern(pattern: str) -> bool:
    return pattern == "*" or pattern.endswith(":*")


# `s3:Get*` and `ec2:Describe*` on "*" name hundreds of actions and resource formats: the
# evidence (kept in the finding, frozen in every review item, exported in evidence packs) lists
# the first ones and how many there are, not a quarter of a megabyte per statement.
EVIDENCE_LIST_LIMIT = 40


def _at_most(name: str, values: list[str]) -> dict:
    if len(values) <= EVIDENCE_LIST_LIMIT:
        return {name: values}
    return {name: values[:EVIDENCE_LIST_LIMIT], f"{name}_total": len(values)}


def unscoped_resource(*, ev: Evidence, t: Thresholds) -> Iterator[Detected]:
    for principal in _principals(ev):
        perms = ev.effective[principal.arn]
        groups = []
        for label, _, document in principal.documents:
            for statement in statements(document=document):
                if (
                    not statement.is_allow
                    or statement.not_actions
                    or statement.not_resources
                    or "*" not in statement.resources
                ):
                    continue
                # `*` and `svc:*` are full-admin's and service-wildcard's to report; the rest
                # of their statement is this check's (a statement with s3:* beside
                # dynamodb:DeleteTable was skipped whole).
                broad = {
                    a.lower()
                    for pattern in statement.actions
                    if _is_broad_pattern(pattern)
                    for a in expand(pattern=pattern)
                }
                narrow = {
                    a.lower()
                    for pattern in statement.actions
                    if not _is_broad_pattern(pattern)
                    for a in expand(pattern=pattern)
                } - broad  # s3:GetObject beside s3:* is the wildcard's, reported there
                scoped = {}
                for action in sorted(narrow & perms.allowed):
                    level, formats = _action_facts(spelling(action=action))
                    if formats:
                        scoped[spelling(action=action)] = (level, formats)
                if scoped:
                    resource_types = sorted({f for _, fs in scoped.values() for f in fs})
                    groups.append(
                        {
                            "policy": label,
                            "statement_index": statement.index,
                            "sid": statement.sid,
                            **_at_most("actions", sorted(scoped)),
                            "access_levels": sorted({lv for lv, _ in scoped.values()}),
                            **_at_most("resource_types", resource_types),
                        }
                    )
        if groups:
            writes = any(
                level not in ("List", "Read") for g in groups for level in g["access_levels"]
            )
            yield Detected(
                "unscoped-resource",
                *_subject(principal),
                {"statements": groups, **_library()},
                severity="medium" if writes else "low",
                severity_reason="Changes resources on *" if writes else "Reads resources on *",
            )


def broad_allow_by_exclusion(*, ev: Evidence, t: Thresholds) -> Iterator[Detected]:
    for principal in _principals(ev):
        found = [
            {
                "policy": label,
                "statement_index": s.index,
                "sid": s.sid,
                "not_action": list(s.not_actions),
                "not_resource": list(s.not_resources),
                "statement": s.raw,
            }
            for label, _, document in principal.documents
            for s in statements(document=document)
            if s.is_allow and (s.not_actions or s.not_resources)
        ]
        if found:
            yield Detected(
                "broad-allow-by-exclusion",
                *_subject(principal),
                {"statements": found, **_library()},
            )


def _condition_entries(statement) -> list[tuple[str, str, list[str]]]:
    """(operator, key, values), lower-cased, of a statement's Condition; values as IAM reads
    them (true and "true" alike)."""
    found = []
    for operator, block in (statement.condition or {}).items():
        if not isinstance(operator, str) or not isinstance(block, Mapping):
            continue
        for key, values in block.items():
            items = values if isinstance(values, list) else [values]
            found.append(
                (
                    operator.lower(),
                    str(key).lower(),
                    [json.dumps(v).strip('"').lower() for v in items],
                )
            )
    return found


def _denies_without_mfa(statement) -> bool:
    """A Deny on every resource whose whole condition is "no MFA": BoolIfExists
    aws:MultiFactorAuthPresent false, AWS's example (a request with access keys carries no
    such key, and a plain Bool Deny lets it through). One that names a resource, adds another
    condition, or denies when MFA is present guards nothing here."""
    if statement.not_resources or "*" not in statement.resources:
        return False
    entries = _condition_entries(statement)
    return bool(entries) and all(
        operator == "boolifexists"  # Bool holds nothing without the key (access keys)
        and key == "aws:multifactorauthpresent"
        and values == ["false"]
        for operator, key, values in entries
    )


def _allows_only_with_mfa(statement) -> bool:
    """An Allow that holds only with MFA: aws:MultiFactorAuthPresent true (Bool, not
    IfExists, which also holds without the key), or a maximum aws:MultiFactorAuthAge."""
    return any(
        (operator == "bool" and key == "aws:multifactorauthpresent" and values == ["true"])
        or (operator in ("numericlessthan", "numericlessthanequals") and key == MFA_AGE_KEY)
        for operator, key, values in _condition_entries(statement)
    )


class _DestructiveActions:
    """One run of destructive_without_mfa: the destructive actions a set of documents allows
    without MFA, worked out once per distinct set (a group's members share theirs, and so do
    principals with copies of one managed policy) from each document read once. Documents are
    known by their content, hashed once per document object; nothing outlives the run."""

    def __init__(self) -> None:
        # id(document) -> (the document, its hash): kept beside its hash, the document stays
        # alive for the run, so no other document can take its id meanwhile.
        self._hashes: dict[int, tuple[Mapping, str]] = {}
        self._statements: dict[str, list[Statement]] = {}  # content hash -> its statements
        self._unguarded: dict[tuple[tuple[str, str], ...], list[str]] = {}

    def _read(self, document: Mapping) -> tuple[str, list[Statement]]:
        if id(document) not in self._hashes:
            self._hashes[id(document)] = (document, document_hash(document=document))
        digest = self._hashes[id(document)][1]
        if digest not in self._statements:
            self._statements[digest] = statements(document=document)
        return digest, self._statements[digest]

    def unguarded(self, perms: EffectivePermissions) -> list[str]:
        """Destructive actions the principal may run without MFA, spelt as AWS does, sorted."""
        documents = [(p.kind, *self._read(p.document)) for p in perms.policies]
        if perms.boundary is not None:
            documents.append(("boundary", *self._read(perms.boundary.document)))
        # The same documents allow the same actions: `allowed` is the first holder's.
        key = tuple((kind, digest) for kind, digest, _ in documents)
        if key not in self._unguarded:
            self._unguarded[key] = _unguarded_destructive(
                allowed=perms.allowed,
                documents=[(kind, statements_) for kind, _, statements_ in documents],
            )
        return self._unguarded[key]


def _unguarded_destructive(
    *, allowed: frozenset[str], documents: list[tuple[str, list[Statement]]]
) -> list[str]:
    """An allowed destructive action is guarded by a Deny without MFA on every resource (in an
    identity policy or the boundary), or when it has identity Allows and every one of them
    needs MFA; the others are returned."""
    destructive = {a for a in allowed if a.partition(":")[2].startswith(DESTRUCTIVE_PREFIXES)}
    denied: set[str] = set()
    granted: set[str] = set()
    granted_without_mfa: set[str] = set()
    for kind, statements_ in documents:
        for statement in statements_:
            covered = destructive & covered_actions(statement=statement)
            if not covered:
                continue
            if statement.effect == "Deny" and _denies_without_mfa(statement):
                denied |= covered
            elif statement.is_allow and kind != "boundary":
                granted |= covered
                if not _allows_only_with_mfa(statement):
                    granted_without_mfa |= covered
    guarded = denied | (granted - granted_without_mfa)
    return sorted(spelling(action=a) for a in destructive - guarded)


def destructive_without_mfa(*, ev: Evidence, t: Thresholds) -> Iterator[Detected]:
    destructive = _DestructiveActions()
    for principal in _principals(ev):
        if principal.arn not in ev.console_users:
            continue
        unguarded = destructive.unguarded(ev.effective[principal.arn])
        if unguarded:
            yield Detected(
                "destructive-without-mfa",
                *_subject(principal),
                {"count": len(unguarded), "actions": unguarded[:50], **_library()},
            )


def principal_creation_without_boundary(*, ev: Evidence, t: Thresholds) -> Iterator[Detected]:
    for principal in _principals(ev):
        perms = ev.effective[principal.arn]
        # Each Allow on its own (IAM allows what any one of them allows), bounded only if its
        # condition lets no request through that sets no boundary, or one that bounds nothing.
        request = without_boundary(partition(arn=principal.arn))
        unbounded = []
        for action in CREATION_ACTIONS:
            decision = perms.decide(action=action)
            if decision.allowed and admitted(decision=decision, request=request):
                unbounded.append(action)
        if unbounded:
            yield Detected(
                "principal-creation-without-boundary",
                *_subject(principal),
                {"actions": unbounded, **_library()},
            )


POLICY_CHECKS = [
    Check(
        "privilege-escalation",
        "Privilege escalation",
        "critical",
        "Can give itself more access than it was granted",
        "The effective permissions include a published privilege-escalation method that reaches "
        "a target giving more access (the finding names the targets: another user, a role, a "
        "policy in use), or a chain of roles leading to an administrator: whoever holds this "
        "principal can give itself more access than it was granted.",
        "Remove the escalating actions, or scope them: PassRole to the roles the workload needs "
        "(with iam:PassedToService), IAM writes with an iam:PermissionsBoundary condition.",
        "Least privilege (CIS AWS Foundations v3.0.0 section 1)",
        (AD,),
        privilege_escalation,
    ),
    Check(
        "unscoped-resource",
        "Actions on every resource that could be scoped",
        "medium",
        "Grants on * what could be limited to named resources",
        'Actions that support resource-level permissions are granted on "Resource": "*": the '
        "principal may use them on every resource of that type, present and future.",
        "List the resource ARNs the workload uses (the finding lists the resource types).",
        "Least privilege",
        (AD,),
        unscoped_resource,
    ),
    Check(
        "broad-allow-by-exclusion",
        "Allow by exclusion (NotAction / NotResource)",
        "high",
        "Allows everything except what is listed",
        "An Allow with NotAction or NotResource grants every action or resource not listed, "
        "including every one AWS adds later.",
        "Rewrite the statement as an Allow of the actions and resources needed.",
        "Least privilege",
        (AD,),
        broad_allow_by_exclusion,
    ),
    Check(
        "destructive-without-mfa",
        "Destructive actions without MFA",
        "medium",
        "A phished console session can delete and disable",
        "A console user may run delete, terminate or disable actions without a condition on "
        "aws:MultiFactorAuthPresent or aws:MultiFactorAuthAge.",
        "Add an explicit Deny of those actions when aws:MultiFactorAuthPresent is false "
        "(BoolIfExists), or allow them only with MFA.",
        "Least privilege",
        (AD,),
        destructive_without_mfa,
    ),
    Check(
        "principal-creation-without-boundary",
        "Principal creation without a permissions boundary",
        "high",
        "Can mint users or roles with more access than its own",
        "The principal can create users or roles, or attach or put their policies, without a "
        "condition requiring iam:PermissionsBoundary.",
        "Add a condition requiring iam:PermissionsBoundary to be the approved boundary.",
        "Least privilege",
        (AD,),
        principal_creation_without_boundary,
    ),
]
