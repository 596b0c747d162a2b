from findings.models.accounts import AwsAccount
from findings.models.audit import AuditEntry
from findings.models.evidence import (
    AccessAnalyzerFinding,
    Analyzer,
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
from findings.models.review import Decision, ReviewCycle, ReviewItem
from findings.models.runs import CollectionRun, Source

__all__ = [
    "AuditEntry",
    "Decision",
    "ReviewCycle",
    "ReviewItem",
    "Exclusion",
    "Finding",
    "FindingEvent",
    "Severity",
    "AccessAnalyzerFinding",
    "Analyzer",
    "AwsAccount",
    "CollectionRun",
    "CredentialReport",
    "CredentialReportEntry",
    "IamGroup",
    "IamRole",
    "IamUser",
    "ManagedPolicy",
    "PolicyAttachment",
    "PolicyDocument",
    "ServiceLastAccessed",
    "Source",
]
