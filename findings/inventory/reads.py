"""The rows of an inventory list page, by id, in one hand-written statement each.

A page's ids come from the ORM (an index walk that matches the filters and the order,
findings.models.paging.LateRows); its rows from here: each user with its credential report row
and its number of open findings, each role with its open findings and its inline and managed
policies, every count an index probe. Through the ORM the same statement (its correlated
subqueries, and a second query for the credential rows) cost more to compile than to run.
"""

from findings.models import (
    CredentialReportEntry,
    Finding,
    IamRole,
    IamUser,
    PolicyAttachment,
)
from findings.models.rawrows import Columns, fetch, placeholders, table

# What the rows show (findings.inventory.rows), and no more: every column read is a value
# decoded (a timestamp, a JSON list) for each of a page's rows.
USER_SHOWN = ("account", "arn", "name", "path", "groups")
ROLE_SHOWN = (
    "account",
    "arn",
    "name",
    "path",
    "is_service_linked",
    "is_sso",
    "last_used_at",
    "last_used_region",
    "create_date",
)

# What the users table shows of a credential report row (rows.password_cell, keys_cell).
ENTRY_SHOWN = [
    "account_id",
    "arn",
    "user",
    "mfa_active",
    "password_enabled",
    "password_enabled_reason",
    "password_last_used",
    "password_last_used_reason",
    *(
        f"access_key_{n}_{column}"
        for n in (1, 2)
        for column in ("active", "last_used_date", "last_used_date_reason")
    ),
]


USER_COLUMNS = Columns(IamUser, USER_SHOWN, alias="u")
ROLE_COLUMNS = Columns(IamRole, ROLE_SHOWN, alias="r")
ENTRY_COLUMNS = Columns(CredentialReportEntry, tuple(ENTRY_SHOWN), alias="e")


def _open_findings(alias: str) -> str:
    """A correlated count of the principal's open findings (the index finding_resource)."""
    return (
        f"(SELECT COUNT(*) FROM {table(Finding)} f WHERE f.resource_arn = {alias}.arn"  # noqa: S608
        f" AND f.account_id = {alias}.account_id AND f.status = %s)"
    )


def read_users(*, ids: list[int]) -> dict[int, IamUser]:
    """The users with these ids, by id: each with `entry` (its present credential report row,
    or None) and `open_findings`."""
    if not ids:
        return {}
    # Quoted table names, fixed columns, one placeholder per id: values go as parameters.
    sql = (
        f"SELECT {USER_COLUMNS.sql}, {ENTRY_COLUMNS.sql}, {_open_findings('u')}"  # noqa: S608
        f" FROM {table(IamUser)} u LEFT JOIN {table(CredentialReportEntry)} e"
        " ON e.account_id = u.account_id AND e.arn = u.arn AND e.gone_at IS NULL"
        f" WHERE u.id IN ({placeholders(len(ids))})"
    )
    users = {}
    split = Columns.splitter((USER_COLUMNS, ENTRY_COLUMNS))
    for row in fetch(sql, [Finding.Status.OPEN, *ids]):
        user, entry = split(row[:-1])
        user.entry, user.open_findings = entry, row[-1]
        users[user.pk] = user
    return users


def read_roles(*, ids: list[int]) -> dict[int, IamRole]:
    """The roles with these ids, by id: each with `open_findings` and `policy_count` (its
    inline and managed policies)."""
    if not ids:
        return {}
    # Quoted table names, fixed columns, one placeholder per id: values go as parameters.
    sql = (
        f"SELECT {ROLE_COLUMNS.sql}, {_open_findings('r')},"  # noqa: S608
        f" (SELECT COUNT(*) FROM {table(PolicyAttachment)} p WHERE p.principal_arn = r.arn"
        " AND p.account_id = r.account_id AND p.gone_at IS NULL AND p.kind IN (%s, %s))"
        f" FROM {table(IamRole)} r WHERE r.id IN ({placeholders(len(ids))})"
    )
    roles = {}
    build = ROLE_COLUMNS.builder()
    for row in fetch(sql, [Finding.Status.OPEN, "inline", "managed", *ids]):
        role = build(row[:-2])
        role.open_findings, role.policy_count = row[-2], row[-1]
        roles[role.pk] = role
    return roles
