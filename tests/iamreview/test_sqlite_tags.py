"""Tag filters on SQLite (`make run`), where a key is read as a JSON path and a compared value
as JSON: a tag with a value answered 500 "malformed JSON" on the right-sizing page and in the
exclusion preview. Run for real on a migrated SQLite database, in a process of its own."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.utils import timezone
from findings.models import AwsAccount, IamRole
from findings.models.tags import with_tag
now = timezone.now()
account = AwsAccount.objects.create(account_id="111122223333", name="Demo")
for name, tags in [
    ("platform", {"team": "platform", "0": "x", "contains": "y"}),
    ("payments", {"team": "payments"}),
    ("untagged", {}),
]:
    IamRole.objects.create(
        account=account, arn=f"arn:aws:iam::111122223333:role/{name}", name=name, role_id=name,
        path="/", create_date=now, tags=tags, fingerprint="x", first_seen_at=now, changed_at=now,
    )
roles = IamRole.objects.all()
def names(**kw):
    return sorted(r.name for r in with_tag(rows=roles, **kw))
print(names(key="team", value="platform"), names(key="team"), names(key="0", value="x"),
      names(key="contains"), names(key="team", value="nobody"), names(key="a__b", value="c"))
"""


def test_tags_with_values_filter_on_sqlite(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "AUDIT_LOG_KEY"}}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 't.sqlite3'}",
        DJANGO_SETTINGS_MODULE="iamreview.settings",
    )
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == (
        "['platform'] ['payments', 'platform'] ['platform'] ['platform'] [] []"
    )
