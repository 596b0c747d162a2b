"""Files no import may half-store: NUL characters, lone surrogates, wrong types, absurd nesting.
Each is rejected whole, naming the line or the JSON path of the offending field."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from findings.collection.imports import ImportRejected, check_size, import_file
from findings.models import CollectionRun, CredentialReportEntry, IamRole, IamUser
from tests.findings.collection.test_imports import gaad_file, import_report, production, sample

pytestmark = pytest.mark.django_db
__all__ = ["production"]  # the fixture, imported for these tests

POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]}


def gaad_with_role(**changes) -> bytes:
    document = json.loads(gaad_file(POLICY))
    document["RoleDetailList"][0].update(changes)
    return json.dumps(document).encode()


def import_gaad(account, data: bytes):
    return import_file(
        account=account, kind="authorization-details", data=data, filename="gaad.json"
    )


@pytest.mark.parametrize(
    ("data", "path", "problem"),
    [
        (
            gaad_with_role(MaxSessionDuration="abc"),
            "RoleDetailList[0].MaxSessionDuration",
            'expected a whole number from 0 to 2147483647, found text "abc"',
        ),
        (
            gaad_with_role(Description={"a": [1, 2]}),
            "RoleDetailList[0].Description",
            "expected text, found an object",
        ),
        (gaad_with_role(Path=["/"]), "RoleDetailList[0].Path", "expected text, found a list"),
        (
            gaad_with_role(Description="ops\u0000team"),
            "RoleDetailList[0].Description",
            "contains a NUL character (\\u0000)",
        ),
        (
            # A lone surrogate, as JSON spells it: valid JSON, not valid Unicode.
            gaad_with_role(Description="x").replace(b'"x"', b'"\\ud800"'),
            "RoleDetailList[0].Description",
            "contains a lone surrogate (\\ud800), which is not valid Unicode",
        ),
        (
            gaad_with_role(Tags=[{"Key": "team", "Value": 7}]),
            "RoleDetailList[0].Tags[0].Value",
            "expected text, found the number 7",
        ),
        (
            gaad_with_role(
                RolePolicyList=[{"PolicyName": "p", "PolicyDocument": {"Statement": "a\u0000"}}]
            ),
            "RoleDetailList[0].RolePolicyList[0].PolicyDocument.Statement",
            "contains a NUL character",
        ),
    ],
)
def test_an_authorization_details_file_with_a_bad_field_is_rejected_naming_its_path(
    production, data, path, problem
):
    with pytest.raises(ImportRejected) as rejected:
        import_gaad(production, data)

    message = str(rejected.value)
    assert f"{path}: {problem}" in message
    assert "nothing was stored" in message
    assert not IamRole.objects.exists() and not IamUser.objects.exists()
    run = CollectionRun.objects.get()
    assert run.status == CollectionRun.Status.FAILED and path in run.error


def analyzer_findings(index: int, **changes) -> bytes:
    """The get-finding-v2 sample (account 111122223333's) with one finding changed."""
    findings = json.loads(sample("access-analyzer-get-finding-v2.json"))
    findings[index].update(changes)
    return json.dumps(findings).encode()


def role_policy(statement: dict) -> bytes:
    document = {"Version": "2012-10-17", "Statement": [statement]}
    return gaad_with_role(RolePolicyList=[{"PolicyName": "p", "PolicyDocument": document}])


@pytest.mark.parametrize(
    ("kind", "data", "path", "problem"),
    [
        # Stored, these broke right-sizing and every role page (500) until a clean file came.
        (
            "authorization-details",
            role_policy({"Effect": "Allow", "Action": 5, "Resource": "*"}),
            "RoleDetailList[0].RolePolicyList[0].PolicyDocument.Statement[0].Action",
            "expected text or a list of text, found a number",
        ),
        (
            "authorization-details",
            gaad_with_role(InstanceProfileList=[{"Arn": "arn:x", "Roles": ["x"]}]),
            "RoleDetailList[0].InstanceProfileList[0].Roles",
            "expected an object, found str",
        ),
        (
            "access-analyzer-findings",
            analyzer_findings(1, findingDetails=[{"unusedPermissionDetails": "x"}]),
            "[1].findingDetails[0].unusedPermissionDetails",
            "expected an object, found text",
        ),
        (
            # Stored, this stopped detection for the account.
            "access-analyzer-findings",
            analyzer_findings(0, findingDetails=[{"externalAccessDetails": 1}]),
            "[0].findingDetails[0].externalAccessDetails",
            "expected an object, found a number",
        ),
        # These were a 500 at storage.
        (
            "access-analyzer-findings",
            analyzer_findings(0, resource=12345),
            "[0].resource",
            "expected text, found a number",
        ),
        (
            "access-analyzer-findings",
            analyzer_findings(2, findingType=["x"]),
            "[2].findingType",
            "expected text, found a list",
        ),
    ],
)
def test_a_field_of_the_wrong_type_at_any_depth_is_rejected_naming_its_path(
    production, kind, data, path, problem
):
    with pytest.raises(ImportRejected) as rejected:
        import_file(account=production, kind=kind, data=data, filename="f.json")
    assert f"{path}: {problem}" in str(rejected.value)
    assert CollectionRun.objects.get().status == CollectionRun.Status.FAILED


def test_a_service_last_accessed_field_of_the_wrong_type_is_rejected(production):
    document = {
        "JobStatus": "COMPLETED",
        "JobCreationDate": "2026-11-01T00:00:00Z",
        "JobCompletionDate": "2026-11-01T00:01:00Z",
        "ServicesLastAccessed": [
            {
                "ServiceName": "Amazon S3",
                "ServiceNamespace": "s3",
                "LastAuthenticated": "2026-10-01T00:00:00Z",
                "LastAuthenticatedEntity": -1,
                "TotalAuthenticatedEntities": 1,
            }
        ],
    }
    with pytest.raises(ImportRejected) as rejected:
        import_file(
            account=production,
            kind="service-last-accessed",
            data=json.dumps(document).encode(),
            principal_arn="arn:aws:iam::111122223333:user/alice",
        )
    assert "ServicesLastAccessed[0].LastAuthenticatedEntity: expected text, found a number" in str(
        rejected.value
    )


def test_another_kind_of_file_imported_as_authorization_details_wipes_nothing(production):
    """Access Analyzer findings or a service's last access read as an account with no users,
    roles or policies: a successful import that marked the whole inventory gone."""
    import_gaad(production, gaad_file(POLICY))
    findings = json.dumps({"findings": [], "nextToken": None}).encode()
    with pytest.raises(ImportRejected, match="not the output of get-account-authorization"):
        import_gaad(production, findings)
    with pytest.raises(ImportRejected, match=r"its keys: JobStatus, ServicesLastAccessed"):
        import_gaad(production, b'{"JobStatus": "COMPLETED", "ServicesLastAccessed": []}')
    for nothing in (b"[]", b'{"UserDetailList": null}', b"[{}]"):
        with pytest.raises(ImportRejected, match="not the output of get-account-authorization"):
            import_gaad(production, nothing)
    assert IamRole.objects.filter(gone_at=None).exists()
    assert IamUser.objects.filter(gone_at=None).exists()


def test_another_accounts_files_are_refused_and_this_accounts_inventory_kept(production):
    """The wrong account chosen for an upload stored the other account's users as this one's
    and marked this one's gone."""
    import_report(production)
    import_gaad(production, gaad_file(POLICY))
    staging_report = sample("credential-report.csv").replace(b"111122223333", b"444455556666")
    with pytest.raises(ImportRejected) as rejected:
        import_report(production, staging_report)
    assert "the file is account 444455556666's (it lists arn:aws:iam::444455556666:" in str(
        rejected.value
    )
    assert "not 111122223333's (Production)" in str(rejected.value)
    with pytest.raises(ImportRejected, match="the file is account 444455556666's"):
        import_gaad(production, gaad_file(POLICY).replace(b"111122223333", b"444455556666"))
    assert not IamUser.objects.exclude(arn__contains="111122223333").exists()
    assert not IamUser.objects.filter(gone_at__isnull=False).exists()
    assert not CredentialReportEntry.objects.filter(gone_at__isnull=False).exists()


def test_access_analyzer_findings_all_of_another_account_are_refused(production):
    """Every finding names its resource's owner: a file all of one other account's, chosen
    for this one, resolved this account's findings and stored the other's as its own. An
    organization analyzer's file (several owners) is this account's to import."""
    from findings.models import AccessAnalyzerFinding

    def findings_file(*owners: str) -> bytes:
        return json.dumps(
            [
                {
                    "id": f"f-{n}",
                    "findingType": "ExternalAccess",
                    "status": "ACTIVE",
                    "resource": f"arn:aws:s3:::bucket-{n}",
                    "resourceType": "AWS::S3::Bucket",
                    "resourceOwnerAccount": owner,
                    "createdAt": "2026-11-01T00:00:00Z",
                    "updatedAt": "2026-11-01T00:00:00Z",
                    "analyzedAt": "2026-11-01T00:00:00Z",
                }
                for n, owner in enumerate(owners)
            ]
        ).encode()

    def send(data: bytes):
        return import_file(account=production, kind="access-analyzer-findings", data=data)

    send(findings_file("111122223333"))
    with pytest.raises(ImportRejected) as rejected:
        send(findings_file("444455556666", "444455556666"))
    assert "the file is account 444455556666's (every finding's resourceOwnerAccount is" in str(
        rejected.value
    )
    assert AccessAnalyzerFinding.objects.filter(gone_at=None).count() == 1
    organization = send(findings_file("444455556666", "555566667777"))
    assert organization.status == "succeeded"


def test_json_nested_200000_levels_deep_is_rejected(production):
    deep = b'{"UserDetailList": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    with pytest.raises(ImportRejected, match="nested more than 64 levels deep"):
        import_gaad(production, deep)
    assert not IamUser.objects.exists()


def test_json_nested_deeper_than_any_aws_output_is_rejected_naming_where(production):
    deep = gaad_with_role(Description="x").replace(b'"x"', b"[" * 80 + b"]" * 80)
    with pytest.raises(
        ImportRejected, match=r"RoleDetailList\[0\]\.Description(\[0\])+: is nested"
    ):
        import_gaad(production, deep)


def test_a_findings_file_with_a_nul_is_rejected_naming_the_field(production):
    document = json.loads(sample("access-analyzer-list-findings-v2.json"))
    document["findings"][1]["resource"] = "arn:aws:s3:::bucket\u0000"
    with pytest.raises(ImportRejected, match=r"findings\[1\]\.resource: contains a NUL"):
        import_file(
            account=production,
            kind="access-analyzer-findings",
            data=json.dumps(document).encode(),
        )


def test_a_credential_report_with_a_nul_is_rejected_naming_the_line(production):
    lines = sample("credential-report.csv").splitlines(True)
    lines[2] = lines[2].replace(b",", b"\x00,", 1)
    with pytest.raises(ImportRejected, match=r"line 3: contains a NUL character"):
        import_report(production, b"".join(lines))


def test_the_command_reports_a_bad_file_in_one_line_without_a_traceback(production, tmp_path):
    bad = tmp_path / "gaad.json"
    bad.write_bytes(gaad_with_role(MaxSessionDuration="abc"))
    with pytest.raises(CommandError, match=r"RoleDetailList\[0\]\.MaxSessionDuration"):
        call_command(
            "import_file",
            str(bad),
            "--account",
            production.account_id,
            "--kind",
            "authorization-details",
            stdout=io.StringIO(),
        )


def test_the_size_limit_message_says_50_mb_like_the_readme(settings):
    settings.IAMREVIEW_IMPORT_MAX_BYTES = 50 * 1024 * 1024
    with pytest.raises(ImportRejected, match=r"the limit is 50 MB"):
        check_size(size=60 * 1024 * 1024)
