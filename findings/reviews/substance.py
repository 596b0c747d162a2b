"""What "fresh data changed since this cycle froze it" compares: the substance of an item.

An item's evidence_hash (reviews/evidence.py) is its integrity hash: the population hash, the
evidence pack and sign-off check it, and it keeps every fact it ever covered. The change mark
needs less: a person signing in or a key being used moves a last-used date every day, and a
mark on every active user would bury the new policy, key or external principal a reviewer must
see. Use matters to a review through the findings it raises or resolves (a key unused for too
long, a dormant user, the root user used lately, a role nobody assumes), and the finding set,
with each finding's severity, is part of the substance. The root user is the exception: meant
never to be used, each of its uses is rare and a matter for the review, so none is left out.
"""

import hashlib
import json

# Facts that move whenever a credential or a role is merely used (and Access Analyzer's own
# re-analysis time), but for the root user. A credential created, rotated or removed, MFA,
# groups, tags and policies are not among them.
USAGE_FACTS = frozenset(
    {
        "analyzed_at",
        "password_last_used",
        "password_last_used_reason",
        "access_key_1_last_used_date",
        "access_key_1_last_used_date_reason",
        "access_key_2_last_used_date",
        "access_key_2_last_used_date_reason",
        "last_used",
        "last_used_region",
        "last_used_note",
    }
)


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


def _substance(evidence: dict) -> dict:
    facts = evidence.get("facts") or {}
    if not facts.get("root"):
        facts = {k: v for k, v in facts.items() if k not in USAGE_FACTS}
    return {
        "facts": facts,
        "unused_services": sorted(s["service"] for s in evidence.get("unused_services", [])),
        "findings": sorted(
            (f["check"], f["resource_key"], f["severity"]) for f in evidence.get("findings", [])
        ),
        "policies": evidence.get("policies"),
        "signing_certificates": sorted(
            (c["name"], c["uploaded"]) for c in evidence.get("signing_certificates", [])
        ),
    }


def substance_hash(*, evidence: dict) -> str:
    """Hash of what a reviewer decides on, without the facts mere use moves (the root user's
    are kept): the other facts, the findings (check, resource, severity), the policies, the
    services a role does not use and the user's active signing certificates (a credential,
    outside the evidence hash)."""
    return hashlib.sha256(_canonical(_substance(evidence)).encode()).hexdigest()


# Facts by what a reviewer calls them; any other fact by its own name.
_FACT_WORDS = (
    ("access_key_1", "access key 1"),
    ("access_key_2", "access key 2"),
    ("cert_", "signing certificates"),
    ("password", "password"),
    ("mfa", "MFA"),
    ("details", "access granted"),
    ("aws_status", "Access Analyzer status"),
)
_PART_WORDS = {
    "findings": "findings",
    "policies": "policies",
    "unused_services": "unused services",
    "signing_certificates": "signing certificates",
}


def _fact_word(name: str) -> str:
    word = next((w for prefix, w in _FACT_WORDS if name.startswith(prefix)), None)
    if word is None:
        return name.replace("_", " ")
    return f"{word} use" if "last_used" in name else word  # the root user's


def changed_parts(*, frozen: dict, fresh: dict) -> list[str]:
    """What differs in substance between the frozen evidence and fresh data's, in a
    reviewer's words ("MFA", "access key 2", "policies", "findings"), each once, sorted."""
    before, after = _substance(frozen), _substance(fresh)

    def differs(a, b) -> bool:  # as the hash compares them
        return _canonical(a) != _canonical(b)

    words = {
        _fact_word(name)
        for name in before["facts"].keys() | after["facts"].keys()
        if differs(before["facts"].get(name), after["facts"].get(name))
    }
    words |= {word for part, word in _PART_WORDS.items() if differs(before[part], after[part])}
    return sorted(words, key=str.lower)
