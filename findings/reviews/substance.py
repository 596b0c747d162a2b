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


def substance_hash(*, evidence: dict) -> str:
    """Hash of what a reviewer decides on, without the facts mere use moves (the root user's
    are kept): the other facts, the findings (check, resource, severity), the policies, the
    services a role does not use and the user's active signing certificates (a credential,
    outside the evidence hash)."""
    facts = evidence.get("facts") or {}
    if not facts.get("root"):
        facts = {k: v for k, v in facts.items() if k not in USAGE_FACTS}
    substance = {
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
    encoded = json.dumps(substance, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()
