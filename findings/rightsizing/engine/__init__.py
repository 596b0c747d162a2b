"""The suggestion: from what a principal is granted and what it used, a least-privilege version.

Pure: policies and usage in, the suggestion (a JSON-ready dict, the shape of
``manage.py suggest_policy --format json``) out. Statements keep their resources and
conditions; only Action/NotAction change, and statements left with nothing are dropped.

The engine is a package, one module per responsibility, each importing only those above it in
this list: usage (what it is given), patterns (IAM wildcards), judging (what use keeps),
reduction (documents rewritten), changes (one policy's change), action_database and
access_analyzer (what the notes compare), suggestion (``suggest``). Callers import from the
package, which names everything they use.
"""

from findings.rightsizing.engine.changes import AFFECTS_SHOWN
from findings.rightsizing.engine.reduction import compact, reduce_document
from findings.rightsizing.engine.suggestion import suggest
from findings.rightsizing.engine.usage import MemberUse, Principal, ServiceUsage, combined_use

__all__ = [
    "AFFECTS_SHOWN",
    "MemberUse",
    "Principal",
    "ServiceUsage",
    "combined_use",
    "compact",
    "reduce_document",
    "suggest",
]
