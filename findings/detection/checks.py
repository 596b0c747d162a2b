"""The checks: what counts as a least-privilege problem, why, and how to fix it.

Each check is a pure function from one account's evidence (plain objects loaded by
findings.detection.detect) to `Detected` problems. Thresholds come in as arguments, so a
finding records exactly which rule settings produced it.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from findings.aws.session import region_partition
from findings.detection.evidence import Check, Detected, Evidence, Principal, Thresholds
from findings.detection.policy_checks import POLICY_CHECKS
from findings.policy.documents import find_admin_grants, find_service_wildcards, statements
from findings.policy.effective import Policy, effective_permissions

__all__ = ["Check", "Detected", "Evidence", "Principal", "Thresholds"]

RULES_VERSION = "2026.11.30"
CIS = "CIS AWS Foundations Benchmark v3.0.0"


def _days_ago(moment: datetime | None, now: datetime) -> int | None:
    return None if moment is None else (now - moment).days


def _fmt(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _day(moment: datetime) -> str:
    """The date of a moment, for a finding's explanation. Evidence says when, never "N days
    ago": a count of days would change the evidence every day, and with it rewrite every
    finding at each detection (the pages show the distance from now themselves)."""
    return moment.date().isoformat()


def _is_root(entry) -> bool:
    return entry.is_root


# --- Credential report checks ---------------------------------------------------------------


def root_access_key(*, ev: Evidence, t: Thresholds) -> Iterator[Detected]:
    for entry in ev.credential_entries:
        if not _is_root(entry):
            continue
        active = [n for n in (1, 2) if getattr(entry, f"access_key_{n}_active")]
        if active:
            yield Detected(
                "root-access-key",
                entry.arn,
                entry.arn,
                "root",
                "root account",
                {
                    "active_keys": active,
                    **{
                        f"access_key_{n}_last_used": _fmt(
                            getattr(entry, f"access_key_{n}_last_used_date")
                        )
                        for n in active
                    },
                },
            )


def _root_without_password_or_keys(entry) -> bool:
    """The report says `false` (older accounts say `not_supported`, which tells nothing) and no
    key is active: what centralized root access leaves of a member account's root user."""
    return (
        entry.password_enabled is False
        and not entry.access_key_1_active
        and not entry.access_key_2_active
    )


def root_mfa(*, ev: Evidence, t: Thresholds) -> Iterator[Detected]:
    for entry in ev.credential_entries:
        if not _is_root(entry) or entry.mfa_active:
            continue
        if _root_without_password_or_keys(entry):
            # MFA guards the root password. Without one there is nothing to sign in with, and
            # no MFA can be added: centralized root access deleted it with the password, its
            # member accounts cannot recover a root password, and the management account acts
            # through sts:AssumeRoot. A finding could never be fixed.
            continue
        yield Detected(
            "root-mfa", entry.arn, entry.arn, "root", "root account", {"mfa_active": False}
        )


def root_recent_use(*, ev: Evidence, t: Thresholds) -> Iterator[Detected]:
    as_of = ev.credentials_as_of
    for entry in ev.credential_entries:
        if not _is_root(entry):
            continue
        uses = {
            "password": entry.password_last_used,
            "access key 1": entry.access_key_1_last_used_date,
            "access key 2": entry.access_key_2_last_used_date,
        }
        recent = {
            what: _fmt(when)
            for what, when in uses.items()
            if when and _days_ago(when, as_of) <= t.root_use_days
        }
        if recent:
            yield Detected(
                "root-recent-use",
                entry.arn,
                entry.arn,
                "root",
                "root account",
                {"used": recent, "window_days": t.root_use_days},
            )


def console_user_without_mfa(*, ev: Evidence, t: Thresholds) -> Iterator[Detected]:
    for entry in ev.credential_entries:
        if not _is_root(entry) and entry.password_enabled and not entry.mfa_active:
            yield Detected(
                "console-user-without-mfa",
                entry.arn,
                entry.arn,
                "user",
                entry.user,
                {
                    "password_enabled": True,
                    "mfa_active": False,
                    "password_last_used": _fmt(entry.password_last_used),
                    "password_last_used_reason": entry.password_last_used_reason or None,
                },
            )


def password_unused(*, ev: Evidence, t: Thresholds) -> Iterator[Detected]:
    as_of = ev.credentials_as_of
    for entry in ev.credential_entries:
        if _is_root(entry) or not entry.password_enabled:
            continue
        used, changed = entry.password_last_used, entry.password_last_changed
        # A password counts from its last use, or, never used since it was set (a reset after
        # the last use included), from when it was set, as a key counts from its creation:
        # a password set last week on a user made last year has not had the time to be used.
        if used is not None and (changed is None or used >= changed):
            if _days_ago(used, as_of) <= t.unused_credential_days:
                continue
            why = f"last used {_day(used)}"
        elif changed is not None:
            if _days_ago(changed, as_of) <= max(t.unused_credential_days, t.grace_days):
                continue
            why = f"not used since it was set {_day(changed)}" + (
                f" (last used {_day(used)}, before that)" if used else ""
            )
        else:
            created_days = _days_ago(entry.user_creation_time, as_of)
            if created_days <= max(t.unused_credential_days, t.grace_days):
                continue
            why = f"never used; the user was created {_day(entry.user_creation_time)}"
        yield Detected(
            "password-unused",
            entry.arn,
            entry.arn,
            "user",
            entry.user,
            {
                "why": why,
                "password_last_used": _fmt(entry.password_last_used),
                "password_last_used_reason": entry.password_last_used_reason or None,
                "password_last_changed": _fmt(entry.password_last_changed),
                "user_creation_time": _fmt(entry.user_creation_time),
            },
        )


def _key_facts(entry, n: int) -> dict:
    return {
        "key": n,
        "active": getattr(entry, f"access_key_{n}_active"),
        "last_rotated": _fmt(getattr(entry, f"access_key_{n}_last_rotated")),
        "last_used": _fmt(getattr(entry, f"access_key_{n}_last_used_date")),
        "last_used_reason": getattr(entry, f"access_key_{n}_last_used_date_reason") or None,
        "last_used_service": getattr(entry, f"access_key_{n}_last_used_service") or None,
        "last_used_region": getattr(entry, f"access_key_{n}_last_used_region") or None,
    }


def access_key_unused(*, ev: Evidence, t: Thresholds) -> Iterator[Detected]:
    as_of = ev.credentials_as_of
    for entry in ev.credential_entries:
        if _is_root(entry):
            continue  # root keys are their own, critical, finding
        for n in (1, 2):
            if not getattr(entry, f"access_key_{n}_active"):
                continue
            rotated_days = _days_ago(getattr(entry, f"access_key_{n}_last_rotated"), as_of)
            used_days = _days_ago(getattr(entry, f"access_key_{n}_last_used_date"), as_of)
            if used_days is not None:
                if used_days <= t.unused_credential_days:
                    continue
                why = f"last used {_day(getattr(entry, f'access_key_{n}_last_used_date'))}"
            else:
                # Active but never used: a finding once older than the threshold (some tools
                # miss these keys entirely).
                age = rotated_days if rotated_days is not None else 0
                if age <= max(t.unused_credential_days, t.grace_days):
                    continue
                created = getattr(entry, f"access_key_{n}_last_rotated")
                why = f"never used; created {_day(created)}" if created else "never used"
            yield Detected(
                "access-key-unused",
                f"{entry.arn}#key{n}",
                entry.arn,
                "access-key",
                f"{entry.user} (key {n})",
                {"why": why, **_key_facts(entry, n)},
            )


def access_key_not_rotated(*, ev: Evidence, t: Thresholds) -> Iterator[Detected]:
    as_of = ev.credentials_as_of
    for entry in ev.credential_entries:
        if _is_root(entry):
            continue
        for n in (1, 2):
            rotated = getattr(entry, f"access_key_{n}_last_rotated")
            if not getattr(entry, f"access_key_{n}_active") or rotated is None:
                continue
            age = _days_ago(rotated, as_of)
            if age > t.key_rotation_days:
                yield Detected(
                    "access-key-not-rotated",
                    f"{entry.arn}#key{n}",
                    entry.arn,
                    "access-key",
                    f"{entry.user} (key {n})",
                    # The key's age is its last rotation (a date): no count of days.
                    _key_facts(entry, n),
                )


def multiple_active_keys(*, ev: Evidence, t: Thresholds) -> Iterator[Detected]:
    for entry in ev.credential_entries:
        if not _is_root(entry) and entry.access_key_1_active and entry.access_key_2_active:
            yield Detected(
                "multiple-active-keys",
                entry.arn,
                entry.arn,
                "user",
                entry.user,
                {"keys": [_key_facts(entry, 1), _key_facts(entry, 2)]},
            )


@dataclass(frozen=True)
class _Credential:
    """One credential of a user, as the credential report shows it."""

    name: str
    last_used: datetime | None
    made: datetime | None  # created, last rotated, or (a password) last changed
    use_recorded: bool = True  # AWS records no use of signing certificates


def _live_credentials(entry) -> list[_Credential]:
    """The user's credentials that work: password, active keys, active signing certificates."""
    credentials = []
    if entry.password_enabled:
        credentials.append(
            _Credential("password", entry.password_last_used, entry.password_last_changed)
        )
    for n in (1, 2):
        if getattr(entry, f"access_key_{n}_active"):
            credentials.append(
                _Credential(
                    f"access key {n}",
                    getattr(entry, f"access_key_{n}_last_used_date"),
                    getattr(entry, f"access_key_{n}_last_rotated"),
                )
            )
    for n in (1, 2):
        if getattr(entry, f"cert_{n}_active"):
            made = getattr(entry, f"cert_{n}_last_rotated")
            credentials.append(_Credential(f"signing certificate {n}", None, made, False))
    return credentials


def _deactivated_key_uses(entry) -> dict[str, datetime]:
    """Last uses of keys deactivated since: the user's activity, though the key no longer works."""
    return {
        f"access key {n} (deactivated)": used
        for n in (1, 2)
        if not getattr(entry, f"access_key_{n}_active")
        and (used := getattr(entry, f"access_key_{n}_last_used_date")) is not None
    }


def _credential_fact(credential: _Credential) -> str:
    if not credential.use_recorded:
        made = _fmt(credential.made) or "on an unknown date"
        return f"uploaded {made}; AWS does not record its use"
    return _fmt(credential.last_used) or "never used"


def inactive_user(*, ev: Evidence, t: Thresholds) -> Iterator[Detected]:
    """Every working credential unused for longer than the threshold, signing certificates
    included. A credential never used (or whose use AWS does not record) counts from when it was
    made, as a new user counts from its creation: a key made last week has not had the time to
    be used, whatever the user's age. One made or changed in the grace period spares the user,
    as it spares the credential in access-key-unused and password-unused. A key deactivated
    since its last use still shows when the user was last active."""
    as_of = ev.credentials_as_of
    for entry in ev.credential_entries:
        if _is_root(entry):
            continue
        credentials = _live_credentials(entry)
        if not credentials:
            continue
        if _days_ago(entry.user_creation_time, as_of) <= max(t.inactive_user_days, t.grace_days):
            continue
        if any(c.made and _days_ago(c.made, as_of) < t.grace_days for c in credentials):
            continue
        deactivated = _deactivated_key_uses(entry)
        last_uses = [c.last_used for c in credentials if c.last_used] + list(deactivated.values())
        # Never used since it was made: a password reset after its last use is a new one.
        never_used_since = [
            c.made for c in credentials if c.made and (not c.last_used or c.made > c.last_used)
        ]
        if any(
            _days_ago(when, as_of) <= t.inactive_user_days for when in last_uses + never_used_since
        ):
            continue
        last = max(last_uses) if last_uses else None
        yield Detected(
            "inactive-user",
            entry.arn,
            entry.arn,
            "user",
            entry.user,
            {
                "last_activity": _fmt(last),
                "credentials": {
                    **{c.name: _credential_fact(c) for c in credentials},
                    **{what: _fmt(when) for what, when in deactivated.items()},
                },
                "user_creation_time": _fmt(entry.user_creation_time),
            },
        )


# --- Role checks ----------------------------------------------------------------------------


def _unused_roles(ev: Evidence, t: Thresholds, *, sso: bool) -> Iterator[Detected]:
    as_of = ev.principals_as_of
    for role in ev.roles:
        if role.is_service_linked or role.is_sso != sso:
            continue
        age = _days_ago(role.create_date, as_of)
        if age <= max(t.unused_role_days, t.grace_days):
            continue
        used_days = _days_ago(role.last_used_at, as_of)
        if used_days is not None and used_days <= t.unused_role_days:
            continue
        why = (
            f"last used {_day(role.last_used_at)}"
            if used_days is not None
            else "not used within AWS's tracking window (about 400 days)"
        )
        yield Detected(
            "sso-role-unused" if sso else "role-unused",
            role.arn,
            role.arn,
            "role",
            role.name,
            {
                "why": why,
                "last_used": _fmt(role.last_used_at),
                "last_used_region": role.last_used_region or None,
                "created": _fmt(role.create_date),
                "path": role.path,
            },
        )


def role_unused(*, ev: Evidence, t: Thresholds) -> Iterator[Detected]:
    return _unused_roles(ev, t, sso=False)


def sso_role_unused(*, ev: Evidence, t: Thresholds) -> Iterator[Detected]:
    return _unused_roles(ev, t, sso=True)


# --- Policy checks --------------------------------------------------------------------------


def _grant_evidence(label: str, kind: str, grant) -> dict:
    evidence = {
        "policy": label,
        "policy_kind": kind,
        "statement_index": grant.statement_index,
        "sid": grant.sid,
        "statement": grant.statement,
        "has_condition": grant.has_condition,
        "kind": grant.kind,
        "services": list(grant.services),
    }
    if grant.not_resources:  # everything but these resources
        evidence["not_resources"] = list(grant.not_resources)
    return evidence


EVERYTHING = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
# What lets a principal lift or rewrite its own permissions boundary: the boundary then limits
# nothing. CreatePolicyVersion/SetDefaultPolicyVersion matter for a customer managed boundary,
# which the evidence cannot tell from an AWS managed one, so they always count.
BOUNDARY_ESCAPES = {
    "user": ("iam:DeleteUserPermissionsBoundary", "iam:PutUserPermissionsBoundary"),
    "role": ("iam:DeleteRolePermissionsBoundary", "iam:PutRolePermissionsBoundary"),
}
POLICY_REWRITES = ("iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion")


def _boundary_allows_everything(principal: Principal) -> bool:
    label, document = principal.boundary
    return effective_permissions(
        principal_arn=principal.arn,
        principal_name=principal.name,
        policies=[Policy("everything", "inline", EVERYTHING)],
        boundary=Policy(label, "boundary", document),
    ).is_admin


def _boundary_escapes(principal: Principal, ev: Evidence) -> list[str]:
    perms = ev.effective[principal.arn]
    own = [
        a
        for a in BOUNDARY_ESCAPES.get(principal.kind, ())
        if perms.decide(action=a, resource=principal.arn).allowed
    ]
    return own + [a for a in POLICY_REWRITES if perms.decide(action=a).allowed]


def _boundary_allows(document: dict) -> list[str]:
    """The boundary's Allow statements' actions, as written."""
    allows: set[str] = set()
    for statement in statements(document=document):
        if statement.is_allow:
            allows.update(statement.actions)
            if statement.not_actions:
                allows.add("every action except " + ", ".join(statement.not_actions))
    return sorted(allows)


def full_admin(*, ev: Evidence, t: Thresholds) -> Iterator[Detected]:
    """CIS 1.16 is about the policy attached, so a permissions boundary never hides the finding;
    a boundary that really limits the principal lowers it to medium, and says so."""
    for principal in ev.principals:
        if principal.is_service_linked:
            continue
        grants = [
            _grant_evidence(label, kind, grant)
            for label, kind, document in principal.documents
            for grant in find_admin_grants(document=document)
        ]
        if not grants:
            continue
        evidence: dict = {"grants": grants}
        severity = reason = title = None
        if principal.boundary and not _boundary_allows_everything(principal):
            label, document = principal.boundary
            escapes = _boundary_escapes(principal, ev)
            evidence["boundary"] = {
                "policy": label,
                "limits_to": _boundary_allows(document),
                "removable_with": escapes,
            }
            if escapes:
                severity = "critical"
                reason = (
                    f"The permissions boundary {label} allows {', '.join(escapes)}: the "
                    "principal can lift or rewrite it, then do anything"
                )
            else:
                severity = "medium"
                title = "Full administrator access, limited by a permissions boundary"
                reason = (
                    f"Limited by the permissions boundary {label}: it can do only what the "
                    "boundary allows, but removing the boundary makes it a full administrator"
                )
        yield Detected(
            "full-admin",
            principal.arn,
            principal.arn,
            principal.kind,
            principal.name,
            evidence,
            severity=severity,
            severity_reason=reason,
            title=title,
        )


def service_wildcard(*, ev: Evidence, t: Thresholds) -> Iterator[Detected]:
    for principal in ev.principals:
        if principal.is_service_linked:
            continue
        grants = [
            _grant_evidence(label, kind, grant)
            for label, kind, document in principal.documents
            for grant in find_service_wildcards(document=document)
        ]
        if grants:
            services = sorted({s for g in grants for s in g["services"]})
            yield Detected(
                "service-wildcard",
                principal.arn,
                principal.arn,
                principal.kind,
                principal.name,
                {"services": services, "grants": grants},
            )


def unused_services(*, ev: Evidence, t: Thresholds) -> Iterator[Detected]:
    for principal in ev.principals:
        # Unused for so many days before the data was read, not before today: a principal
        # whose job has failed since keeps older data, and its use since is unknown. Its age
        # too: a role 20 days old when its usage was read had had no time to use anything.
        as_of = ev.service_read_at.get(principal.arn, ev.now)
        if principal.is_service_linked or _days_ago(principal.create_date, as_of) <= max(
            t.unused_service_days, t.grace_days
        ):
            continue
        unused = []
        for row in ev.service_access.get(principal.arn, []):
            used_days = _days_ago(row.last_authenticated_at, as_of)
            if used_days is not None and used_days <= t.unused_service_days:
                continue
            unused_actions = [
                a["action"]
                for a in row.actions or []
                if not a.get("last_accessed_at")
                or _days_ago(datetime.fromisoformat(a["last_accessed_at"]), as_of)
                > t.unused_service_days
            ]
            unused.append(
                {
                    "service": row.service_namespace,
                    "name": row.service_name,
                    "last_accessed": _fmt(row.last_authenticated_at),
                    "unused_actions": unused_actions,
                }
            )
        if unused:
            yield Detected(
                "unused-services",
                principal.arn,
                principal.arn,
                principal.kind,
                principal.name,
                {"unused_services": unused, "count": len(unused)},
            )


# --- Account checks -------------------------------------------------------------------------


def access_analyzer_missing(*, ev: Evidence, t: Thresholds) -> Iterator[Detected]:
    for region in ev.regions:
        if region not in ev.analyzer_regions:
            partition = region_partition(region)
            arn = f"arn:{partition}:access-analyzer:{region}:{ev.account_id}:analyzer"
            yield Detected(
                "access-analyzer-missing",
                arn,
                arn,
                "region",
                f"{ev.account_id} {region}",
                {"region": region},
            )


CR = "credential-report"
AD = "authorization-details"
SLA = "service-last-accessed"
AA = "access-analyzer"

CHECKS: list[Check] = [
    Check(
        "root-access-key",
        "Root user has an access key",
        "critical",
        "Root keys cannot be limited by any policy",
        "The root user can do anything in the account, and an access key for it can be leaked "
        "and used from anywhere.",
        "Delete the root user's access keys; use IAM roles for programmatic access.",
        f"{CIS} 1.4",
        (CR,),
        root_access_key,
    ),
    Check(
        "root-mfa",
        "Root user without MFA",
        "critical",
        "A stolen root password alone gives full control",
        "Without MFA, the root password alone is enough to take over the account.",
        "Enable MFA (preferably a hardware key) on the root user.",
        f"{CIS} 1.5",
        (CR,),
        root_mfa,
    ),
    Check(
        "root-recent-use",
        "Root user used recently",
        "high",
        "Daily use of root bypasses every guardrail",
        "The root user should be locked away; recent use means someone relies on it.",
        "Find who used it and why (CloudTrail); give them an IAM role instead.",
        f"{CIS} 1.7",
        (CR,),
        root_recent_use,
    ),
    Check(
        "console-user-without-mfa",
        "Console user without MFA",
        "high",
        "A phished password gives console access",
        "This user can sign in to the console with a password alone.",
        "Require MFA for the user, or remove the console password if it is not needed.",
        f"{CIS} 1.10",
        (CR,),
        console_user_without_mfa,
    ),
    Check(
        "password-unused",
        "Console password unused",
        "medium",
        "Unused credentials are risk without benefit",
        "A console password that is not used can still be guessed, phished or leaked.",
        "Remove the console password (delete the login profile).",
        f"{CIS} 1.12",
        (CR,),
        password_unused,
    ),
    Check(
        "access-key-unused",
        "Active access key unused",
        "medium",
        "Unused keys are risk without benefit",
        "An active key that nobody uses can still be leaked and used by someone else. Keys that "
        "were never used are included once they are older than the threshold.",
        "Deactivate the key, then delete it if nothing breaks.",
        f"{CIS} 1.12",
        (CR,),
        access_key_unused,
    ),
    Check(
        "access-key-not-rotated",
        "Access key not rotated",
        "medium",
        "Old keys have had more time to leak",
        "Long-lived keys accumulate exposure in scripts, laptops and CI systems.",
        "Create a new key, switch the user of the key over, then delete the old one. Better: "
        "replace keys with roles.",
        f"{CIS} 1.14",
        (CR,),
        access_key_not_rotated,
    ),
    Check(
        "multiple-active-keys",
        "More than one active access key",
        "low",
        "Two keys double the exposure",
        "Two active keys usually mean a rotation that was never finished.",
        "Find which key is in use and delete the other.",
        f"{CIS} 1.13",
        (CR,),
        multiple_active_keys,
    ),
    Check(
        "inactive-user",
        "User inactive on every credential",
        "high",
        "An inactive account is an unwatched way in",
        "No credential of this user has been used for a long time: the user is probably gone.",
        "Disable or delete the user (PCI DSS requires this within 90 days).",
        "PCI DSS v4.0 8.2.6",
        (CR,),
        inactive_user,
    ),
    Check(
        "role-unused",
        "Role unused",
        "medium",
        "Unused roles keep permissions nobody needs",
        "A role nobody assumes still grants its permissions to whoever can assume it. An empty "
        "last-used date means not used within AWS's ~400-day tracking window, not 'never'.",
        "Confirm with the owning team, then delete the role (or its trust).",
        "Least privilege (CIS AWS Foundations v3.0.0 section 1)",
        (AD,),
        role_unused,
    ),
    Check(
        "sso-role-unused",
        "IAM Identity Center role unused",
        "low",
        "Managed by IAM Identity Center; fix it in the permission set",
        "IAM Identity Center creates these roles from permission sets; unused ones mean a "
        "permission set assigned where nobody uses it.",
        "Remove the permission set assignment for this account in IAM Identity Center.",
        "Least privilege",
        (AD,),
        sso_role_unused,
    ),
    Check(
        "full-admin",
        "Full administrator access",
        "critical",
        "Allows every action on every resource",
        'A policy grants "Action": "*" on "Resource": "*" (or allows everything but a few '
        "actions, or on every resource but a few): this principal can do anything, including "
        "granting itself more, unless a permissions boundary limits it (then the finding is "
        "medium and names the boundary).",
        "Replace the policy with one that lists the actions the workload uses (see its service "
        "last-accessed data).",
        f"{CIS} 1.16",
        (AD,),
        full_admin,
    ),
    Check(
        "service-wildcard",
        "Service-wide wildcard",
        "medium",
        "Allows every action of a service",
        "A policy grants every action of a service (such as s3:*), including destructive and "
        "permission-changing ones.",
        "List the actions needed instead of service:*.",
        "Least privilege",
        (AD,),
        service_wildcard,
    ),
    Check(
        "access-analyzer-missing",
        "No IAM Access Analyzer in a region",
        "medium",
        "External access would go unnoticed",
        "Without an analyzer, nothing reports resources shared outside the account or "
        "organization in this region.",
        "Create an account or organization analyzer in this region.",
        f"{CIS} 1.20",
        (AA,),
        access_analyzer_missing,
    ),
    Check(
        "unused-services",
        "Services granted but not used",
        "low",
        "Permissions nobody uses",
        "The principal's policies grant services it has not used within the threshold "
        "(from service last-accessed data).",
        "Remove the unused services from its policies.",
        "Least privilege",
        (AD, SLA),
        unused_services,
    ),
    *POLICY_CHECKS,
]

CHECKS_BY_ID = {check.id: check for check in CHECKS}
