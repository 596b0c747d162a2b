"""Email digests: what each person should know, by role, sent on the schedule they chose.

Reviewers hear about the items assigned to them, approvers about the cycles they can sign off,
administrators and auditors about overdue cycles and failing collections, and everyone about
new (and reopened) critical and high findings, each once. Nothing to say means no email.

One module per responsibility, each importing only those above it in this list: common
(links, preferences), contents (what a digest holds), sections, news, shared (SharedDigest),
building (digest_for), schedule (who is due), emails, sending (send_due_digests). Callers
import from the package, which names everything they use.
"""

from findings.notifications.digests.building import digest_for
from findings.notifications.digests.emails import digest_subject
from findings.notifications.digests.news import NEW_FINDINGS_LIMIT
from findings.notifications.digests.schedule import due_people, is_due, people_with_digests
from findings.notifications.digests.sections import failing_collections
from findings.notifications.digests.sending import TOLD_KEPT, send_due_digests
from findings.notifications.digests.shared import SharedDigest

__all__ = [
    "NEW_FINDINGS_LIMIT",
    "TOLD_KEPT",
    "SharedDigest",
    "digest_for",
    "digest_subject",
    "due_people",
    "failing_collections",
    "is_due",
    "people_with_digests",
    "send_due_digests",
]
