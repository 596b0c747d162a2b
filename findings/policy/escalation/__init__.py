"""Privilege escalation: the published methods a principal may use, and paths across principals
through roles.

Pure, over effective permissions: an account's principals in, escalation methods and paths out.
Resource scope matters: a method only counts when it reaches a target that gives more access
(a role more privileged than the principal, a policy in use, another user with more access, a
role that existing code runs as). Conditions matter as IAM reads them: any one Allow statement
that matches grants the request, and a condition scopes a grant only if its operator and values
exclude the request the escalation makes.

The methods themselves are in findings.policy.escalation_methods, the requests they make in
findings.policy.escalation_requests; taking off one's own Deny (rule "own-deny") is worked out in
findings.policy.own_deny, and role trust policies are read in findings.policy.trust.

Here, from the bottom up: privilege (whether a target gives more than the principal has),
account (what escalation knows about an account, and its shared caches), targets (the candidates
a method's grants name), service_roles (roles passed to or run by a service), reach (whether a
method reaches one target), principal_methods (every method for a principal, SCPs applied) and
paths (chains of roles).
"""

from findings.policy.escalation.account import Account
from findings.policy.escalation.paths import assumable_roles, escalation_path
from findings.policy.escalation.principal_methods import (
    blocked_methods,
    escalation_methods,
    own_deny_methods,
)
from findings.policy.escalation.privilege import more_privileged

__all__ = [
    "Account",
    "assumable_roles",
    "blocked_methods",
    "escalation_methods",
    "escalation_path",
    "more_privileged",
    "own_deny_methods",
]
