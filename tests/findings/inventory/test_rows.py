"""The inventory's rows, built in Python: every value escaped, every branch of the cells."""

import random
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.utils import translation

from findings.inventory.rows import RoleRows, UserRows, keys_cell, password_cell
from findings.templatetags.evidence import ago
from tests.findings.detection.test_detect import (
    active_key,
    console_password,
    credential_entry,
    iam_role,
    iam_user,
    make_account,
)

pytestmark = pytest.mark.django_db

HOSTILE = '<img src=x onerror="alert(1)">'


@pytest.fixture
def account():
    return make_account()


def user_row(user, entry=None, open_findings=0, accounts=()) -> str:
    user.entry = entry
    user.open_findings = open_findings
    return str(UserRows(accounts=accounts)(roots=[], users=[user]))


def test_every_value_from_aws_is_escaped(account):
    account.name = HOSTILE
    account.save()
    user = iam_user(account, "mallory", groups=[HOSTILE])
    user.path = HOSTILE
    html = user_row(user)
    assert "<img" not in html
    assert html.count("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;") == 3  # account, group, path

    role = iam_role(account, "r", last_used_days=3)
    role.path, role.last_used_region = HOSTILE, HOSTILE
    role.policy_count, role.open_findings = 2, 0
    html = str(RoleRows()([role]))
    assert "<img" not in html
    assert html.count("&lt;img") == 3  # path, region, account


def test_a_user_row_links_its_page_its_findings_and_says_when_it_has_no_report_row(account):
    user = iam_user(account, "alice", groups=["developers", "admins"])
    html = user_row(user, open_findings=3)
    assert f'<a href="/inventory/users/{user.pk}/">alice</a>' in html
    assert f'<a href="/inventory/users/{user.pk}/#findings">3</a>' in html
    assert "Not in the credential report yet" in html
    assert '<span class="badge">developers</span> <span class="badge">admins</span>' in html
    assert '<span class="muted">0</span>' in user_row(iam_user(account, "bob"))
    assert '<span class="muted">none</span>' in user_row(iam_user(account, "carol"))


def test_the_credential_cells(account):
    iam_user(account, "alice")
    entry = credential_entry(
        account,
        "alice",
        mfa_active=False,
        **console_password(used_days=3),
        **active_key(created_days=30, used_days=2),
    )
    assert password_cell(entry).startswith('Yes<div class="help">last used <time datetime="')
    assert "Key 1: last used <time" in keys_cell(entry)

    never = credential_entry(account, "bob", **active_key(created_days=300, used_days=None))
    assert 'Key 1: <span class="absent">never used</span>' in keys_cell(never)
    assert password_cell(never) == '<span class="muted">No</span>'

    none = credential_entry(account, "carol")
    assert keys_cell(none) == '<span class="muted">none active</span>'

    root = credential_entry(account, "<root_account>", mfa_active=False)
    assert root.password_enabled is None
    assert "not reported for the root user" in password_cell(root)

    odd = credential_entry(account, "dave")
    odd.password_enabled, odd.password_enabled_reason = None, "no_information"
    assert unescape(password_cell(odd)).startswith('<span class="absent">')


def test_mfa_is_flagged_only_where_a_password_makes_it_matter(account):
    user = iam_user(account, "alice")
    with_password = credential_entry(
        account, "alice", mfa_active=False, **console_password(used_days=1)
    )
    assert '<span class="badge sev-high">No</span>' in user_row(user, with_password)
    keys_only = credential_entry(
        account, "bob", mfa_active=False, **active_key(created_days=30, used_days=1)
    )
    assert '<span class="muted">No</span>' in user_row(iam_user(account, "bob"), keys_only)


def test_root_rows_search_the_findings_by_their_arn(account):
    root = credential_entry(account, "<root_account>", mfa_active=False)
    html = str(UserRows()(roots=[root], users=[]))
    assert "Root user" in html
    assert '<span class="badge sev-critical">No</span>' in html
    assert f'href="/findings/?q=arn%3Aaws%3Aiam%3A%3A{account.account_id}%3Aroot"' in html


def test_a_role_row_badges_and_last_use(account):
    role = iam_role(account, "AWSServiceRoleForSupport", last_used_days=None)
    role.is_service_linked, role.is_sso = True, True
    role.policy_count, role.open_findings = 1, 2
    html = str(RoleRows(accounts=[account])([role]))
    assert "Service-linked</span>" in html and "IAM Identity Center</span>" in html
    assert "Not used within AWS&#x27;s ~400-day tracking window" not in html  # a constant
    assert "Not used within AWS's ~400-day tracking window" in html
    assert f'<a href="/inventory/roles/{role.pk}/#findings">2</a>' in html
    assert '<td class="num">1</td>' in html


def _both(moment_):
    """`ago` and `naturaltime` of the same moment; asked again if the clock crossed one of
    the moment's hour marks between the two (they each read the time)."""
    for _ in range(3):
        found = (ago(moment_), naturaltime(moment_))
        if found[0] == found[1]:
            break
    return found


@pytest.mark.django_db(databases=[])
def test_dates_read_as_naturaltime_says_them_whatever_the_distance():
    """The inventory's dates skip the lazy translations of `naturaltime` (translation is off)
    and must still say exactly what it says: past and future, seconds to years, month ends
    and leap days."""
    now = datetime.now(UTC)
    rng = random.Random(7)
    moments = [now - timedelta(seconds=rng.randint(0, 4 * 365 * 86400)) for _ in range(3000)]
    moments += [now + timedelta(seconds=rng.randint(1, 400 * 86400)) for _ in range(300)]
    moments += [now - timedelta(days=days, minutes=1) for days in (0, 1, 6, 7, 30, 31, 365, 366)]
    moments += [now - timedelta(seconds=seconds) for seconds in (0, 1, 59, 61, 3599, 3601, 86399)]
    moments += [
        datetime(year, month, day, 23, 59, 59, tzinfo=UTC)
        for year, month, day in [(2024, 2, 29), (2025, 1, 31), (2025, 3, 31), (2023, 12, 31)]
    ]
    for moment_ in moments:
        fast, django = _both(moment_)
        assert fast == django, moment_
    assert ago(now - timedelta(days=17, hours=2)) == "2\xa0weeks, 3\xa0days ago"


def test_dates_go_through_naturaltime_when_translation_is_on(settings):
    """With translation on, `ago` says what naturaltime says in the person's language (the
    plain English units would not)."""
    moment_ = datetime.now(UTC) - timedelta(days=40)
    # Django keeps the translation functions of the first call: with USE_I18N changed, a test
    # clears them (as Django's own Trans says), before and after.
    translation._trans.__dict__.clear()
    settings.USE_I18N = True
    try:
        with translation.override("de"):
            words = ago(moment_)
            assert words == naturaltime(moment_)
    finally:
        settings.USE_I18N = False
        translation._trans.__dict__.clear()
    assert words.startswith("1\xa0Monat, 1\xa0Woche")


@pytest.mark.parametrize(
    ("active", "reason", "words"),
    [
        (False, "not_supported", "no such credential"),  # moto's spelling of AWS's N/A
        (False, "N/A", "no such credential"),
        (True, "N/A", "never used"),
        (None, "not_supported", "not supported for this user"),  # the root user's password
    ],
)
def test_a_credential_that_does_not_exist_reads_as_such_whatever_the_column_says(
    active, reason, words
):
    from findings.templatetags.evidence import last_used

    assert words in str(last_used(active, None, reason))
