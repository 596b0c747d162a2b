"""Escalation paths a review found missed or misreported: published methods not in the
catalogue, a role taken for a group member, boundaries not weighed, Denies on named resources,
an administrator but for a few resources, and existing policies that give more."""

from findings.detection.checks import CHECKS_BY_ID, Evidence, Principal, Thresholds
from findings.policy.effective import Policy, effective_permissions
from findings.policy.escalation import Account, escalation_methods, more_privileged
from tests.findings.detection.test_detect import NOW
from tests.findings.policy.statements import allow, allow_all_but, deny, perms, principal

ACCOUNT = "111122223333"
IAM = f"arn:aws:iam::{ACCOUNT}"
DEV = f"{IAM}:user/dev"
ALICE = f"{IAM}:user/alice"
RUNNER = f"{IAM}:role/runner"
ADMIN_ROLE = f"{IAM}:role/admin"
ADMINS = f"{IAM}:group/admins"
SECRET = "arn:aws:s3:::payroll-secrets"
SECRETS = [SECRET, f"{SECRET}/*"]
SELF = f"{IAM}:user/${{aws:username}}"


def trusting(service) -> dict:
    return {
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ]
    }


def methods(principals, principal=DEV, **kw) -> dict:
    account = Account(account_id=ACCOUNT, principals=principals, **kw)
    return {m.method: m for m in escalation_methods(principal_arn=principal, account=account)}


# --- A. Published methods that were not in the catalogue -------------------------------------


def with_admin_role(service, *statements) -> dict:
    """dev's methods where an administrator role is what the service runs as."""
    principals = {DEV: perms(DEV, *statements), ADMIN_ROLE: perms(ADMIN_ROLE, allow("*"))}
    return methods(principals, trust={ADMIN_ROLE: trusting(service)})


def test_ecs_exec_into_a_running_task_reaches_its_task_role():
    """pathfinding.cloud ecs-006: a shell in a running task has its task role's credentials."""
    found = with_admin_role("ecs-tasks.amazonaws.com", allow("ecs:ExecuteCommand"))
    assert found["ExecIntoExistingEcsTask"].targets == (ADMIN_ROLE,)
    assert with_admin_role("lambda.amazonaws.com", allow("ecs:ExecuteCommand")) == {}


def test_a_layer_added_to_an_existing_function_runs_as_its_role():
    """lambda:UpdateFunctionConfiguration adds a layer (or AWS_LAMBDA_EXEC_WRAPPER) that runs
    the principal's code as the function's role."""
    update = allow("lambda:UpdateFunctionConfiguration")
    found = with_admin_role("lambda.amazonaws.com", update)
    assert found["AddLayerToExistingLambdaFunctionWithRole"].targets == (ADMIN_ROLE,)
    # With the function's code too, the role is named once, by editing the code.
    both = with_admin_role("lambda.amazonaws.com", allow("lambda:UpdateFunctionCode"), update)
    assert set(both) == {"EditExistingLambdaFunctionWithRole"}


def test_a_change_set_executed_on_an_existing_stack_runs_as_its_role():
    """pathfinding.cloud cloudformation-005: like UpdateStack, which was in the catalogue."""
    change_set = ["cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet"]
    found = with_admin_role("cloudformation.amazonaws.com", allow(change_set))
    assert found["ExecuteChangeSetOnExistingStackWithItsRole"].targets == (ADMIN_ROLE,)
    # Executing needs a change set to execute.
    executing = allow("cloudformation:ExecuteChangeSet")
    assert with_admin_role("cloudformation.amazonaws.com", executing) == {}


def test_a_stack_set_updated_with_a_passed_role_runs_as_it():
    """pathfinding.cloud cloudformation-004: iam:PassRole and cloudformation:UpdateStackSet."""
    grant = allow(["iam:PassRole", "cloudformation:UpdateStackSet"])
    found = with_admin_role("cloudformation.amazonaws.com", grant)
    assert found["PassExistingRoleToUpdatedStackSet"].targets == (ADMIN_ROLE,)
    assert with_admin_role("ec2.amazonaws.com", grant) == {}


# --- B. Group methods are a user's: a role is never in a group -------------------------------


def group_account(principal, *statements, members=()) -> Account:
    return Account(
        account_id=ACCOUNT,
        principals={principal: perms(principal, *statements)},
        groups={ADMINS: perms(ADMINS, allow("*"))},
        group_members={ADMINS: ("root", *members)},
    )


def group_methods(principal, *statements, members=()) -> set[str]:
    account = group_account(principal, *statements, members=members)
    return {m.method for m in escalation_methods(principal_arn=principal, account=account)}


def test_a_role_cannot_join_a_group():
    """A role allowed iam:AddUserToGroup was reported as reaching the admins group (critical)."""
    role = f"{IAM}:role/r"
    assert group_methods(DEV, allow("iam:AddUserToGroup")) == {"AddUserToGroup"}
    assert group_methods(role, allow("iam:AddUserToGroup")) == set()


def test_a_group_policy_escalates_only_a_member_or_one_that_may_join():
    """PutGroupPolicy and AttachGroupPolicy counted any group with members, the principal in
    it or not, and were rated "can write itself any policy"; a role counted too."""
    writes = allow(["iam:PutGroupPolicy", "iam:AttachGroupPolicy"], ADMINS)
    both = {"PutGroupPolicy", "AttachGroupPolicy"}

    assert group_methods(DEV, writes) == set()  # root's group: dev gains nothing
    assert group_methods(DEV, writes, members=("dev",)) == both
    assert group_methods(DEV, writes, allow("iam:AddUserToGroup", ADMINS)) >= both
    assert group_methods(f"{IAM}:role/dev", writes, members=("dev",)) == set()


# --- C. A target's own boundary caps what any policy written on it gives ----------------------


def test_writing_its_own_policy_under_a_boundary_that_allows_no_more_is_no_escalation():
    """dev's boundary allows exactly what it has: PutUserPolicy on itself gives it nothing, yet
    it was reported critical ("Can write itself any policy, an administrator's too")."""
    own = [allow("s3:GetObject"), allow("iam:PutUserPolicy", SELF)]

    assert "PutUserPolicy" not in methods({DEV: perms(DEV, *own, boundary=own)})
    wider = [*own, allow("dynamodb:*")]
    assert "PutUserPolicy" in methods({DEV: perms(DEV, *own, boundary=wider)})
    assert "PutUserPolicy" in methods({DEV: perms(DEV, *own)})


def test_writing_another_users_policy_counts_only_when_its_boundary_allows_more():
    own = [allow("s3:GetObject"), allow(["iam:PutUserPolicy", "iam:AttachUserPolicy"])]
    capped = perms(ALICE, boundary=[allow("s3:GetObject")])
    broad = perms(ALICE, boundary=[allow("*")])

    found = methods({DEV: perms(DEV, *own), ALICE: capped})
    assert ALICE not in found["PutUserPolicy"].targets
    assert ALICE not in found["AttachUserPolicy"].targets
    found = methods({DEV: perms(DEV, *own), ALICE: broad})
    assert ALICE in found["PutUserPolicy"].targets
    assert ALICE in found["AttachUserPolicy"].targets


# --- D. A boundary condition that admits a policy the principal writes itself -----------------


def test_a_boundary_pinned_to_any_customer_policy_is_no_bound_when_it_may_create_one():
    """The condition names the account's policies by a wildcard and dev may create policies:
    it creates `mine` (Allow *), a role bounded by it, and puts an admin policy on the role.
    Only no boundary or an AWS-managed broad one was tried as the boundary."""
    bounded = {"StringLike": {"iam:PermissionsBoundary": f"{IAM}:policy/*"}}
    create_role = allow(["iam:CreateRole", "iam:PutRolePolicy"], f"{IAM}:role/*", bounded)

    found = methods({DEV: perms(DEV, create_role, allow("iam:CreatePolicy", f"{IAM}:policy/*"))})
    assert found["PutRolePolicy"].targets == ("(any new role it creates)",)
    # Without writing a policy of its own, the boundary is one someone else wrote.
    assert "PutRolePolicy" not in methods({DEV: perms(DEV, create_role)})


def test_putting_its_own_boundary_to_a_policy_it_writes_lifts_the_boundary():
    pinned = {"StringLike": {"iam:PermissionsBoundary": f"{IAM}:policy/*"}}
    put = allow("iam:PutUserPermissionsBoundary", SELF, pinned)
    capping = [allow("s3:GetObject"), put, allow("iam:CreatePolicy", f"{IAM}:policy/*")]
    own = [allow(["s3:*", "ec2:*"]), put, allow("iam:CreatePolicy", f"{IAM}:policy/*")]

    found = methods({DEV: perms(DEV, *own, boundary=capping)})
    assert found["PutOwnUserPermissionsBoundary"].targets == (DEV,)
    no_create = [allow(["s3:*", "ec2:*"]), put]
    assert "PutOwnUserPermissionsBoundary" not in methods(
        {DEV: perms(DEV, *no_create, boundary=[allow("s3:GetObject"), put])}
    )


# --- E. A Deny on named resources (or a NotResource Allow) leaves the principal less ----------


def test_a_role_without_the_principals_resource_deny_is_more_privileged():
    """dev may use S3 except the payroll bucket; the instance role may use all of S3. Passing
    it to an instance reads the payroll bucket: nothing was reported."""
    dev = perms(
        DEV, allow("s3:*"), deny("s3:*", SECRETS), allow(["iam:PassRole", "ec2:RunInstances"])
    )
    runner = perms(RUNNER, allow("s3:*"))
    trust = {RUNNER: trusting("ec2.amazonaws.com")}

    assert more_privileged(target=runner, than=dev)
    found = methods({DEV: dev, RUNNER: runner}, trust=trust)
    assert found["CreateEC2WithExistingInstanceProfile"].targets == (RUNNER,)
    # A role with the same Deny, or one on more, has no more.
    same = perms(RUNNER, allow("s3:*"), deny("s3:*", SECRETS))
    more = perms(RUNNER, allow("s3:*"), deny("s3:*", [*SECRETS, "arn:aws:s3:::hr"]))
    assert not more_privileged(target=same, than=dev)
    assert not more_privileged(target=more, than=dev)
    assert methods({DEV: dev, RUNNER: same}, trust=trust) == {}


def test_a_target_granted_what_the_principals_deny_leaves_out_is_more_privileged():
    dev = perms(DEV, allow("s3:*"), deny("s3:*", SECRETS))
    assert more_privileged(target=perms(RUNNER, allow("s3:GetObject", f"{SECRET}/*")), than=dev)
    assert not more_privileged(
        target=perms(RUNNER, allow("s3:GetObject", "arn:aws:s3:::logs/*")), than=dev
    )
    other = perms(RUNNER, allow("s3:*"), deny("s3:*", ["arn:aws:s3:::hr", "arn:aws:s3:::hr/*"]))
    assert more_privileged(target=other, than=dev)  # it reads payroll, dev reads hr


def test_another_user_without_the_principals_resource_deny_is_more_privileged():
    keys = allow("iam:CreateAccessKey", f"{IAM}:user/*")
    dev = perms(DEV, allow("s3:*"), deny("s3:*", SECRETS), keys)

    assert methods({DEV: dev, ALICE: perms(ALICE, allow("s3:*"))})["CreateAccessKey"].targets == (
        ALICE,
    )
    alike = perms(ALICE, allow("s3:*"), deny("s3:*", SECRETS))
    assert methods({DEV: dev, ALICE: alike}) == {}


def test_a_not_resource_allow_is_no_grant_on_the_resources_it_leaves_out():
    """The same as a Deny, written as Allow s3:* NotResource the payroll bucket."""
    dev = perms(DEV, allow_all_but("s3:*", SECRETS))

    assert more_privileged(target=perms(RUNNER, allow("s3:*")), than=dev)
    assert not more_privileged(target=perms(RUNNER, allow_all_but("s3:*", SECRETS)), than=dev)
    # Another Allow on every resource gives back what the NotResource leaves out.
    whole = perms(DEV, allow_all_but("s3:*", SECRETS), allow("s3:*"))
    assert not more_privileged(target=perms(RUNNER, allow("s3:*")), than=whole)


def test_a_deny_with_a_condition_or_a_variable_leaves_out_nothing_for_sure():
    """As `denied` counts: a Deny with a condition may be avoided, and one on a tag's value
    names nothing known."""
    conditional = {**deny("s3:*", SECRETS), "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    tagged = deny("s3:*", "arn:aws:s3:::${aws:PrincipalTag/team}/*")
    target = perms(RUNNER, allow("s3:*"))
    plain = perms(DEV, allow("s3:*"), deny("s3:*", SECRETS))

    assert more_privileged(target=target, than=plain)
    assert not more_privileged(target=target, than=perms(DEV, allow("s3:*"), conditional))
    assert not more_privileged(target=target, than=perms(DEV, allow("s3:*"), tagged))


# --- F. An administrator but for some resources may still take its own Deny off ---------------


def user_principal(name, documents) -> Principal:
    return principal(f"{IAM}:user/{name}", documents)


def escalation_findings(*documents) -> list:
    ev = Evidence(
        ACCOUNT, NOW, [], [user_principal("dev", list(documents))], [], {}, [], set(), set()
    )
    return list(CHECKS_BY_ID["privilege-escalation"].run(ev=ev, t=Thresholds()))


def test_an_admin_with_a_resource_deny_it_may_delete_is_reported():
    """Allow * except the security role, and dev may delete its own guard policy: detection
    skipped dev as an administrator already."""
    admin = ("admin", "inline", {"Statement": [allow("*")]})
    guard = ("guard", "inline", {"Statement": [deny("*", f"{IAM}:role/security-audit")]})

    (finding,) = escalation_findings(admin, guard)
    assert [m["method"] for m in finding.evidence["methods"]] == ["DeleteOwnUserPolicyWithDeny"]
    assert finding.evidence["methods"][0]["removes"] == ["guard"]
    assert finding.severity == "high"
    # An administrator with no Deny to take off, or one it may not delete, has nothing more.
    assert escalation_findings(admin) == []
    kept = ("keep", "inline", {"Statement": [deny("iam:DeleteUserPolicy", DEV)]})
    assert escalation_findings(admin, guard, kept) == []


# --- G. Attaching an existing managed policy that gives more ----------------------------------


def test_attaching_an_existing_customer_admin_policy_to_itself_escalates():
    """Its iam:PolicyARN condition admits only `ops-admin`, a customer policy the admin role
    has (Allow *). Only AWS's three broad policies and policies it may write were tried."""
    ops_admin = f"{IAM}:policy/ops-admin"
    attach = allow("iam:AttachUserPolicy", SELF, {"ArnEquals": {"iam:PolicyARN": ops_admin}})

    def found(document) -> dict:
        admin = effective_permissions(
            principal_arn=ADMIN_ROLE,
            principal_name="admin",
            policies=[Policy("ops-admin", "managed", document, ops_admin)],
        )
        return methods(
            {DEV: perms(DEV, allow("s3:GetObject"), attach), ADMIN_ROLE: admin},
            policies_in_use=frozenset({ops_admin}),
            customer_policies=(ops_admin,),
        )

    assert found({"Statement": [allow("*")]})["AttachUserPolicy"].targets == (DEV,)
    # A policy that gives no more than dev has is no escalation.
    assert found({"Statement": [allow("s3:GetObject")]}) == {}


def test_an_in_use_policy_is_known_by_its_name_as_detection_labels_it():
    """Detection labels a managed policy by its name and sets no ref."""
    ops_admin = f"{IAM}:policy/ops/ops-admin"
    attach = allow(
        "iam:AttachUserPolicy", SELF, {"ArnLike": {"iam:PolicyARN": f"{IAM}:policy/ops/*"}}
    )
    admin = effective_permissions(
        principal_arn=ADMIN_ROLE,
        principal_name="admin",
        policies=[Policy("ops-admin", "managed", {"Statement": [allow("*")]})],
    )
    found = methods(
        {DEV: perms(DEV, attach), ADMIN_ROLE: admin},
        policies_in_use=frozenset({ops_admin}),
        customer_policies=(ops_admin,),
    )
    assert found["AttachUserPolicy"].targets == (DEV,)
