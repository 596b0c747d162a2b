from findings.models.accounts import AwsAccount
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
from findings.models.runs import CollectionRun, Source

__all__ = [
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
