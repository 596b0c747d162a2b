"""What the "Fresh data changed" mark compares, and how it names what changed."""

from findings.reviews.evidence import evidence_hash
from findings.reviews.substance import changed_parts, substance_hash

USER = {
    "facts": {
        "user": "erin",
        "root": False,
        "mfa_active": True,
        "password_enabled": True,
        "password_last_used": "2026-11-29T08:00:00+00:00",
        "password_last_used_reason": None,
        "access_key_1_active": True,
        "access_key_1_last_rotated": "2026-10-01T00:00:00+00:00",
        "access_key_1_last_used_date": "2026-11-28T08:00:00+00:00",
        "access_key_1_last_used_date_reason": None,
        "groups": ["developers"],
    },
    "findings": [{"id": 7, "check": "key-old", "resource_key": "erin#key1", "severity": "low"}],
    "policies": {"inline: app": {"Statement": []}},
}
ROLE = {
    "facts": {
        "arn": "arn:aws:iam::111122223333:role/api",
        "last_used": "2026-11-29T08:00:00+00:00",
        "last_used_region": "eu-west-1",
        "last_used_note": None,
        "tags": {},
    },
    "policies": {},
    "unused_services": [{"service": "s3", "last_accessed": None}],
    "findings": [],
}
EXTERNAL = {
    "facts": {
        "resource": "arn:aws:s3:::reports",
        "aws_status": "ACTIVE",
        "details": [{"principal": {"AWS": "999988887777"}}],
        "analyzed_at": "2026-11-29T08:00:00+00:00",
    },
    "findings": [],
}


def with_facts(evidence: dict, **facts) -> dict:
    return {**evidence, "facts": {**evidence["facts"], **facts}}


def test_use_moves_neither_the_hash_nor_the_parts_but_it_moves_the_integrity_hash():
    used = with_facts(
        USER,
        password_last_used="2026-12-01T08:00:00+00:00",
        access_key_1_last_used_date="2026-12-01T08:00:00+00:00",
    )
    assumed = with_facts(ROLE, last_used="2026-12-01T08:00:00+00:00", last_used_region="us-east-1")
    reanalysed = with_facts(EXTERNAL, analyzed_at="2026-12-01T08:00:00+00:00")

    for frozen, fresh in ((USER, used), (ROLE, assumed), (EXTERNAL, reanalysed)):
        assert substance_hash(evidence=fresh) == substance_hash(evidence=frozen)
        assert changed_parts(frozen=frozen, fresh=fresh) == []
    assert evidence_hash(evidence=used) != evidence_hash(evidence=USER)
    assert evidence_hash(evidence=assumed) != evidence_hash(evidence=ROLE)


def test_each_change_is_named_as_a_reviewer_would():
    rotated = with_facts(USER, access_key_1_last_rotated="2026-12-01T00:00:00+00:00")
    more = {**with_facts(USER, mfa_active=False, groups=["admins"]), "policies": {}}
    worse = {**USER, "findings": [{**USER["findings"][0], "severity": "high"}]}
    now_used = {**ROLE, "unused_services": []}
    new_principal = with_facts(EXTERNAL, details=[{"principal": {"AWS": "*"}}])
    archived = with_facts(EXTERNAL, aws_status="ARCHIVED")
    certificate = {**USER, "signing_certificates": [{"name": "Signing certificate 1"}]}
    certificate["signing_certificates"][0]["uploaded"] = "2026-12-01T00:00:00+00:00"

    assert changed_parts(frozen=USER, fresh=rotated) == ["access key 1"]
    assert changed_parts(frozen=USER, fresh=more) == ["groups", "MFA", "policies"]
    assert changed_parts(frozen=USER, fresh=worse) == ["findings"]
    assert changed_parts(frozen=ROLE, fresh=now_used) == ["unused services"]
    assert changed_parts(frozen=EXTERNAL, fresh=new_principal) == ["access granted"]
    assert changed_parts(frozen=EXTERNAL, fresh=archived) == ["Access Analyzer status"]
    assert changed_parts(frozen=USER, fresh=certificate) == ["signing certificates"]
    for frozen, fresh in ((USER, rotated), (ROLE, now_used), (EXTERNAL, archived)):
        assert substance_hash(evidence=fresh) != substance_hash(evidence=frozen)


def test_the_root_users_every_use_counts():
    root = with_facts(USER, root=True)
    signed_in = with_facts(root, password_last_used="2026-12-01T08:00:00+00:00")

    assert substance_hash(evidence=signed_in) != substance_hash(evidence=root)
    assert changed_parts(frozen=root, fresh=signed_in) == ["password use"]
