"""The ORM models of every concern, shared by the one findings app and its migrations.
Imports Django only; everything else in findings may import from here."""

from findings.models.accounts import AwsAccount, ScpState
from findings.models.audit import AuditCheckpoint, AuditEntry
from findings.models.evidence import (
    AccessAnalyzerFinding,
    Analyzer,
    AwsManagedPolicyDownload,
    CredentialReport,
    CredentialReportEntry,
    IamGroup,
    IamRole,
    IamUser,
    ManagedPolicy,
    PolicyAttachment,
    PolicyDocument,
    ServiceLastAccessed,
)
from findings.models.findings import (
    Exclusion,
    Finding,
    FindingEvent,
    Severity,
)
from findings.models.review import CycleTally, Decision, ReviewCycle, ReviewItem, SentReminder
from findings.models.rightsizing import (
    FindingRecommendation,
    GeneratedPolicy,
    PolicySuggestion,
)
from findings.models.runs import CollectionRun, Source
from findings.models.webhooks import Webhook, WebhookDelivery

__all__ = [
    "AuditCheckpoint",
    "AuditEntry",
    "CycleTally",
    "Decision",
    "ReviewCycle",
    "ReviewItem",
    "SentReminder",
    "Exclusion",
    "Finding",
    "FindingEvent",
    "Severity",
    "AccessAnalyzerFinding",
    "Analyzer",
    "AwsAccount",
    "AwsManagedPolicyDownload",
    "ScpState",
    "CollectionRun",
    "CredentialReport",
    "CredentialReportEntry",
    "IamGroup",
    "IamRole",
    "IamUser",
    "ManagedPolicy",
    "PolicyAttachment",
    "PolicyDocument",
    "FindingRecommendation",
    "GeneratedPolicy",
    "PolicySuggestion",
    "ServiceLastAccessed",
    "Source",
    "Webhook",
    "WebhookDelivery",
]
