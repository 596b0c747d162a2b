"""A plain summary of what effective permissions put at risk, by category.

The categories and their action lists follow cloudsplaining's (Salesforce) risk categories;
access levels come from the IAM action database (policy_sentry).
"""

from functools import cache

from policy_sentry.querying.actions import get_actions_with_access_level

from findings.policy import actions
from findings.policy.effective import EffectivePermissions
from findings.policy.escalation import Account, escalation_methods
from findings.policy.guardrails import Guardrails

DATA_EXFILTRATION = frozenset(
    a.lower()
    for a in (
        "s3:GetObject",
        "ssm:GetParameter",
        "ssm:GetParameters",
        "ssm:GetParametersByPath",
        "secretsmanager:GetSecretValue",
        "kms:Decrypt",
    )
)
CREDENTIAL_EXPOSURE = frozenset(
    a.lower()
    for a in (
        "iam:CreateAccessKey",
        "iam:CreateLoginProfile",
        "iam:UpdateLoginProfile",
        "iam:CreateServiceSpecificCredential",
        "iam:ResetServiceSpecificCredential",
        "iam:UpdateAccessKey",
        "ecr:GetAuthorizationToken",
        "redshift:GetClusterCredentials",
        "sts:GetSessionToken",
        "sts:GetFederationToken",
        "sso:GetRoleCredentials",
        "codepipeline:PollForJobs",
        "chime:CreateApiKey",
        "gamelift:RequestUploadCredentials",
        "cognito-identity:GetCredentialsForIdentity",
        "mediapackage:RotateChannelCredentials",
        "cloud9:CreateEnvironmentToken",
        "lightsail:GetInstanceAccessDetails",
        "rds-db:Connect",
        "lightsail:GetRelationalDatabaseMasterUserPassword",
    )
)


@cache
def _level(level: str) -> frozenset[str]:
    return frozenset(
        a.lower()
        for service in actions.services()
        for a in (get_actions_with_access_level(service, level) or ())
    )


def risk_summary(
    *, perms: EffectivePermissions, account_id: str, guardrails: Guardrails | None = None
) -> dict[str, int]:
    """Category -> how many allowed actions (or escalation methods) fall in it. An
    administrator has no way to escalate: it has everything already (it showed "30 ways to
    escalate", counted against roles it could create, which detection rightly never reports)."""
    account = Account(
        account_id=account_id, principals={perms.principal_arn: perms}, guardrails=guardrails
    )
    return {
        "Privilege escalation": 0
        if perms.is_admin
        else len(escalation_methods(principal_arn=perms.principal_arn, account=account)),
        "Data exfiltration": len(perms.allowed & DATA_EXFILTRATION),
        "Resource exposure": len(perms.allowed & _level("Permissions management")),
        "Infrastructure change": len(perms.allowed & _level("Write")),
        "Credential exposure": len(perms.allowed & CREDENTIAL_EXPOSURE),
    }
