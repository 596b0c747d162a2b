"""The inventory's table rows as HTML, built in Python.

A page shows 50 users (and, on the first, each account's root user) or 50 roles. Through the
template engine each user row cost two included templates, a dozen tags and some sixty
variable look-ups: about a millisecond a row, most of the page. Every value from the database
goes through `_e` (the standard library's `html.escape`, quotes included: what Django's
auto-escaping does) or through the `moment`/`last_used` tags' own format_html; the rest are
constants and integers.
"""

from urllib.parse import quote

from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from findings.templatetags.evidence import last_used, moment, reason_words
from iamreview.rowhtml import escaped as _e
from iamreview.rowhtml import url_for_any_id

NOT_TRACKED = "Not used within AWS's ~400-day tracking window"


class Accounts:
    """Accounts by pk, from the page's own list; an account missing from it (added since)
    is read through the row's relation."""

    def __init__(self, accounts) -> None:
        self.by_pk = {account.pk: account for account in accounts}

    def cell(self, row) -> str:
        account = self.by_pk.get(row.account_id) or row.account
        return f'<td>{_e(account.name)}<div class="help">{_e(account.account_id)}</div></td>'


def _used(when, reason: str) -> str:
    """A password's or key's last use: its date, or why there is none (never used...)."""
    if when:
        return f"last used {moment(when)}"
    return str(last_used(True, None, reason))


def password_cell(entry) -> str:
    if entry.password_enabled:
        used = _used(entry.password_last_used, entry.password_last_used_reason)
        return f'Yes<div class="help">{used}</div>'

    if entry.password_enabled is None:
        words = (
            "not reported for the root user"
            if entry.is_root
            else _e(reason_words(entry.password_enabled_reason) or "unknown")
        )
        used = (
            f'<div class="help">last used {moment(entry.password_last_used)}</div>'
            if entry.password_last_used
            else ""
        )
        return f'<span class="absent">{words}</span>{used}'
    return '<span class="muted">No</span>'


def keys_cell(entry) -> str:
    keys = [
        f"<li>Key {n}: "
        + _used(
            getattr(entry, f"access_key_{n}_last_used_date"),
            getattr(entry, f"access_key_{n}_last_used_date_reason"),
        )
        + "</li>"
        for n in (1, 2)
        if getattr(entry, f"access_key_{n}_active")
    ]
    if not keys:
        return '<span class="muted">none active</span>'
    return '<ul class="plain">' + "".join(keys) + "</ul>"


def _findings_cell(count: int, url: str) -> str:
    if count:
        return f'<td class="num"><a href="{url}#findings">{int(count)}</a></td>'
    return '<td class="num"><span class="muted">0</span></td>'


class UserRows:
    """Rows of the users table: each account's root user, then IAM users (each carrying
    `entry`, its credential report row or None, and `open_findings`)."""

    def __init__(self, *, accounts=()) -> None:
        self.accounts = Accounts(accounts)
        self.user_url = url_for_any_id("inventory_user")
        self.findings_url = reverse("findings")

    def root(self, entry) -> str:
        mfa = "Yes" if entry.mfa_active else '<span class="badge sev-critical">No</span>'
        search = _e(f"{self.findings_url}?q={quote(entry.arn, safe='/')}")
        return (
            '<tr class="root-row">'
            f'<td><strong>Root user</strong><div class="help"><code>{_e(entry.arn)}</code></div>'
            f"</td>{self.accounts.cell(entry)}"
            '<td class="muted">—</td>'
            f"<td>{password_cell(entry)}</td><td>{mfa}</td><td>{keys_cell(entry)}</td>"
            f'<td class="num"><a href="{search}">Findings</a></td></tr>'
        )

    def user(self, user) -> str:
        url = _e(self.user_url.format(int(user.pk)))
        groups = (
            "".join(f'<span class="badge">{_e(group)}</span> ' for group in user.groups)
            or '<span class="muted">none</span>'
        )
        entry = user.entry
        if entry is None:
            credentials = '<td colspan="3" class="muted">Not in the credential report yet</td>'
        else:
            if entry.mfa_active:
                mfa = "Yes"
            elif entry.password_enabled:
                mfa = '<span class="badge sev-high">No</span>'
            else:
                mfa = '<span class="muted">No</span>'
            credentials = (
                f"<td>{password_cell(entry)}</td><td>{mfa}</td><td>{keys_cell(entry)}</td>"
            )
        return (
            f'<tr><td><a href="{url}">{_e(user.name)}</a><div class="help">{_e(user.path)}</div>'
            f"</td>{self.accounts.cell(user)}<td>{groups}</td>{credentials}"
            f"{_findings_cell(user.open_findings, url)}</tr>"
        )

    def __call__(self, *, roots, users) -> SafeString:
        rows = [self.root(entry) for entry in roots] + [self.user(user) for user in users]
        return mark_safe("\n".join(rows))  # noqa: S308 - escaped values, integers and constants


class RoleRows:
    """Rows of the roles table (each role carrying `policy_count` and `open_findings`)."""

    def __init__(self, *, accounts=()) -> None:
        self.accounts = Accounts(accounts)
        self.role_url = url_for_any_id("inventory_role")

    def role(self, role) -> str:
        url = _e(self.role_url.format(int(role.pk)))
        badges = ""
        if role.is_service_linked:
            badges += (
                ' <span class="badge" title="Owned by AWS; excluded from unused-role findings">'
                "Service-linked</span>"
            )
        if role.is_sso:
            badges += (
                ' <span class="badge" title="Created by IAM Identity Center from a permission '
                'set">IAM Identity Center</span>'
            )
        if role.last_used_at:
            region = (
                f'<div class="help">{_e(role.last_used_region)}</div>'
                if role.last_used_region
                else ""
            )
            used = f"{moment(role.last_used_at)}{region}"
        else:
            used = f'<span class="absent">{NOT_TRACKED}</span>'
        return (
            f'<tr><td><a href="{url}">{_e(role.name)}</a>{badges}'
            f'<div class="help">{_e(role.path)}</div></td>{self.accounts.cell(role)}'
            f"<td>{used}</td><td>{moment(role.create_date)}</td>"
            f'<td class="num">{int(role.policy_count)}</td>'
            f"{_findings_cell(role.open_findings, url)}</tr>"
        )

    def __call__(self, roles) -> SafeString:
        return mark_safe("\n".join(self.role(role) for role in roles))  # noqa: S308 - as above
