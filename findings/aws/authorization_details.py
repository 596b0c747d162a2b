"""Users, groups, roles and policies from GetAccountAuthorizationDetails (GAAD).

One paged call returns what ListRoles does not (RoleLastUsed, PermissionsBoundary, Tags) and
every policy document, instead of one GetRole per role.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import unquote

from findings.aws.convert import load_json, optional_timestamp, parse_timestamp
from findings.aws.errors import AWS_EXCEPTIONS, ParseError, translate
from findings.aws.records import (
    AttachedPolicy,
    AuthorizationDetails,
    GroupDetail,
    InlinePolicy,
    ManagedPolicyDetail,
    RoleDetail,
    UserDetail,
)
from findings.aws.shapes import check_policy_document, check_shape
from iamreview.input_guard import shown, unusable_text

# AWS-managed policies are well over a thousand and the same in every account, so the
# per-account call leaves them out; fetch_aws_managed_policies downloads them for all accounts.
ACCOUNT_FILTERS = ("User", "Role", "Group", "LocalManagedPolicy")
PAGE_SIZE = 1000  # GAAD's maximum MaxItems
# Each AWS-managed policy comes with its versions (PolicyVersionList), not only the default one,
# and some documents are tens of kB: AWS's default page of 100 keeps each response in memory
# small (a dozen or so calls, once a day).
AWS_MANAGED_PAGE_SIZE = 100


# --- Fetching -----------------------------------------------------------------------------------


def fetch_authorization_details(
    iam: Any, *, filters: Iterable[str] = ACCOUNT_FILTERS
) -> AuthorizationDetails:
    """Everything in one account that ``filters`` asks for, following every page."""
    return parse_authorization_details(_pages(iam, filters=filters))


def fetch_aws_managed_policies(iam: Any) -> AuthorizationDetails:
    """Every AWS-managed policy of the client's partition (``policies``; nothing else), from
    one paged call, not one per policy. The same for every account in a partition: callers
    store it once for all of them.

    Only the default version's document is kept: the pages are parsed one at a time, so the
    other versions AWS sends are never all in memory together."""
    pages = _pages(iam, filters=("AWSManagedPolicy",), page_size=AWS_MANAGED_PAGE_SIZE)
    details = parse_authorization_details(pages)
    return replace(
        details,
        users=(),
        groups=(),
        roles=(),
        policies=tuple(policy for policy in details.policies if policy.is_aws_managed),
    )


def attached_aws_managed_policy_arns(details: AuthorizationDetails) -> set[str]:
    """AWS-managed policies that a user, group or role uses (attached, or as a boundary)."""
    arns: set[str] = set()
    for principal in (*details.users, *details.groups, *details.roles):
        arns.update(policy.arn for policy in principal.attached_policies)
        boundary = getattr(principal, "permissions_boundary_arn", None)
        if boundary:
            arns.add(boundary)
    return {arn for arn in arns if arn.split(":")[4:5] == ["aws"]}


def _pages(
    iam: Any, *, filters: Iterable[str], page_size: int = PAGE_SIZE
) -> Iterable[dict[str, Any]]:
    paginator = iam.get_paginator("get_account_authorization_details")
    pages = paginator.paginate(Filter=list(filters), PaginationConfig={"PageSize": page_size})
    try:
        yield from pages
    except AWS_EXCEPTIONS as exc:
        raise translate(exc, operation="GetAccountAuthorizationDetails") from exc


# --- Parsing ------------------------------------------------------------------------------------


DETAIL_LISTS = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")
LISTED_TYPES = dict(zip(DETAIL_LISTS, ("users", "groups", "roles", "policies"), strict=True))


def parse_authorization_details_file(
    data: bytes, *, complete: bool = False
) -> AuthorizationDetails:
    """The JSON that ``aws iam get-account-authorization-details`` prints (pages merged).

    Which types it may mark deleted: a file made with `--filter` leaves the other types out,
    or holds them as empty lists, so a type with no list, or (unless `complete`: the file is
    known to be unfiltered) no entries, is `unlisted`: kept as stored. "policies" counts this
    account's own: `--filter AWSManagedPolicy` lists only AWS's."""
    document = load_json(data)
    # A list of raw pages, e.g. saved from boto3, or the CLI's one merged object.
    pages = document if isinstance(document, list) else [document]
    _check_is_authorization_details(pages)
    details = parse_authorization_details(pages)
    # The parser's own checks first (they say more), then every other field's type.
    for number, page in enumerate(pages):
        where = f"[{number}]" if isinstance(document, list) else ""
        check_shape(
            page, service="iam", shape="GetAccountAuthorizationDetailsResponse", where=where
        )
    entries = {
        "users": len(details.users),
        "groups": len(details.groups),
        "roles": len(details.roles),
        "policies": sum(not policy.is_aws_managed for policy in details.policies),
    }
    unlisted = frozenset(
        kind
        for key, kind in LISTED_TYPES.items()
        if not any(isinstance(page.get(key), list) for page in pages)
        or (not complete and not entries[kind])
    )
    return replace(details, unlisted=unlisted)


def _check_is_authorization_details(pages: list) -> None:
    """Refuse a file that holds none of the four lists. Another file (Access Analyzer
    findings, a service's last access, an empty list) would read as an account with no users,
    roles or policies: everything it had, gone. (Pages from AWS itself always hold them.)"""
    if not all(isinstance(page, Mapping) for page in pages):
        return  # the parser names the page that is no object
    if not any(isinstance(page.get(key), list) for page in pages for key in DETAIL_LISTS):
        keys = sorted({shown(str(key))[:40] for page in pages[:5] for key in page})
        found = ", ".join(keys[:5]) or "none"
        raise ParseError(
            f"not the output of get-account-authorization-details: none of "
            f"{', '.join(DETAIL_LISTS)} is a list in it (its keys: {found})"
        )


def parse_authorization_details(pages: Iterable[Mapping[str, Any]]) -> AuthorizationDetails:
    """Records from boto3 pages (datetimes, dict documents) or the AWS CLI's merged output
    (ISO date strings, documents as dicts or URL-encoded JSON strings)."""
    users: list[UserDetail] = []
    groups: list[GroupDetail] = []
    roles: list[RoleDetail] = []
    policies: list[ManagedPolicyDetail] = []
    count = 0
    for page in pages:
        if not isinstance(page, Mapping):
            raise ParseError("expected a JSON object with UserDetailList, RoleDetailList, ...")
        # Indexes continue across pages so that an error names the item's place in the whole.
        for item in _items(page, "UserDetailList"):
            users.append(_user(item, f"UserDetailList[{len(users)}]"))
        for item in _items(page, "GroupDetailList"):
            groups.append(_group(item, f"GroupDetailList[{len(groups)}]"))
        for item in _items(page, "RoleDetailList"):
            roles.append(_role(item, f"RoleDetailList[{len(roles)}]"))
        for item in _items(page, "Policies"):
            policies.append(_policy(item, f"Policies[{len(policies)}]"))
        count += 1
    for key, records in (
        ("UserDetailList", users),
        ("GroupDetailList", groups),
        ("RoleDetailList", roles),
        ("Policies", policies),
    ):
        _listed_once_each(key, [record.arn for record in records])
    return AuthorizationDetails(
        users=tuple(users),
        groups=tuple(groups),
        roles=tuple(roles),
        policies=tuple(policies),
        pages=count,
    )


def _listed_once_each(key: str, arns: list[str]) -> None:
    """A hand-merged file may list one principal or policy twice, saying different things:
    which is true is not ours to guess (AWS lists each once, across all pages)."""
    first: dict[str, int] = {}
    for index, arn in enumerate(arns):
        if (seen := first.setdefault(arn, index)) != index:
            raise ParseError(
                f"{arn} is listed again (first as {key}[{seen}]): each is listed once",
                field=f"{key}[{index}].Arn",
            )


def _items(page: Mapping[str, Any], key: str) -> list[Any]:
    value = page.get(key) or []
    if not isinstance(value, list):
        raise ParseError(f"expected a list, found {type(value).__name__}", field=key)
    return value


def _user(item: Any, where: str) -> UserDetail:
    item = _object(item, where)
    return UserDetail(
        name=_text(item, "UserName", where),
        user_id=_text(item, "UserId", where),
        arn=_text(item, "Arn", where),
        path=_optional_text(item, "Path", where) or "/",
        create_date=parse_timestamp(item.get("CreateDate"), field=f"{where}.CreateDate"),
        groups=tuple(_texts(item, "GroupList", where)),
        inline_policies=_inline_policies(item, "UserPolicyList", where),
        attached_policies=_attached_policies(item, where),
        permissions_boundary_arn=_boundary(item),
        tags=_tags(item, where),
    )


def _group(item: Any, where: str) -> GroupDetail:
    item = _object(item, where)
    return GroupDetail(
        name=_text(item, "GroupName", where),
        group_id=_text(item, "GroupId", where),
        arn=_text(item, "Arn", where),
        path=_optional_text(item, "Path", where) or "/",
        create_date=parse_timestamp(item.get("CreateDate"), field=f"{where}.CreateDate"),
        inline_policies=_inline_policies(item, "GroupPolicyList", where),
        attached_policies=_attached_policies(item, where),
    )


def _role(item: Any, where: str) -> RoleDetail:
    item = _object(item, where)
    arn = _text(item, "Arn", where)
    profiles = [
        _object(p, f"{where}.InstanceProfileList")
        for p in _list(item, "InstanceProfileList", where)
    ]
    # GAAD's RoleDetail lacks MaxSessionDuration and Description, but a role inside one of its
    # instance profiles carries them.
    embedded = next(
        (
            role
            for index, profile in enumerate(profiles)
            for role in _list(profile, "Roles", f"{where}.InstanceProfileList[{index}]")
            if _object(role, f"{where}.InstanceProfileList[{index}].Roles").get("Arn") == arn
        ),
        {},
    )
    last_used = _object(item.get("RoleLastUsed") or {}, f"{where}.RoleLastUsed")
    assume_role_policy = item.get("AssumeRolePolicyDocument")
    return RoleDetail(
        name=_text(item, "RoleName", where),
        role_id=_text(item, "RoleId", where),
        arn=arn,
        path=_optional_text(item, "Path", where) or "/",
        create_date=parse_timestamp(item.get("CreateDate"), field=f"{where}.CreateDate"),
        assume_role_policy=None
        if assume_role_policy is None
        else _document(assume_role_policy, f"{where}.AssumeRolePolicyDocument"),
        inline_policies=_inline_policies(item, "RolePolicyList", where),
        attached_policies=_attached_policies(item, where),
        permissions_boundary_arn=_boundary(item),
        tags=_tags(item, where),
        last_used_at=optional_timestamp(
            last_used.get("LastUsedDate"), field=f"{where}.RoleLastUsed.LastUsedDate"
        ),
        last_used_region=_optional_text(last_used, "Region", f"{where}.RoleLastUsed"),
        instance_profile_arns=tuple(
            _text(p, "Arn", f"{where}.InstanceProfileList[{i}]")
            for i, p in enumerate(profiles)
            if p.get("Arn")
        ),
        max_session_duration=_optional_int(item, "MaxSessionDuration", where)
        if "MaxSessionDuration" in item
        else _optional_int(embedded, "MaxSessionDuration", f"{where}.InstanceProfileList.Roles"),
        description=_optional_text(item, "Description", where)
        if "Description" in item
        else _optional_text(embedded, "Description", f"{where}.InstanceProfileList.Roles"),
    )


def _policy(item: Any, where: str) -> ManagedPolicyDetail:
    item = _object(item, where)
    default_version_id = item.get("DefaultVersionId")
    versions = [
        _object(v, f"{where}.PolicyVersionList") for v in _list(item, "PolicyVersionList", where)
    ]
    document = None
    for index, version in enumerate(versions):
        is_default = version.get("IsDefaultVersion") is True or (
            default_version_id is not None and version.get("VersionId") == default_version_id
        )
        if is_default:
            if version.get("Document") is not None:
                place = f"{where}.PolicyVersionList[{index}].Document"
                document = _document(version["Document"], place)
            break
    arn = _text(item, "Arn", where)
    return ManagedPolicyDetail(
        # moto leaves PolicyName and PolicyId out of GAAD; the name is also the ARN's last part.
        name=_optional_text(item, "PolicyName", where) or arn.rsplit("/", 1)[-1],
        policy_id=_optional_text(item, "PolicyId", where),
        arn=arn,
        path=_optional_text(item, "Path", where) or "/",
        default_version_id=_optional_text(item, "DefaultVersionId", where),
        document=document,
        attachment_count=_optional_int(item, "AttachmentCount", where) or 0,
        create_date=optional_timestamp(item.get("CreateDate"), field=f"{where}.CreateDate"),
        update_date=optional_timestamp(item.get("UpdateDate"), field=f"{where}.UpdateDate"),
    )


def _inline_policies(item: Mapping[str, Any], key: str, where: str) -> tuple[InlinePolicy, ...]:
    policies = []
    for index, policy in enumerate(_list(item, key, where)):
        place = f"{where}.{key}[{index}]"
        policy = _object(policy, place)
        policies.append(
            InlinePolicy(
                name=_text(policy, "PolicyName", place),
                document=_document(policy.get("PolicyDocument"), f"{place}.PolicyDocument"),
            )
        )
    return tuple(policies)


def _attached_policies(item: Mapping[str, Any], where: str) -> tuple[AttachedPolicy, ...]:
    attached = []
    for index, policy in enumerate(_list(item, "AttachedManagedPolicies", where)):
        place = f"{where}.AttachedManagedPolicies[{index}]"
        policy = _object(policy, place)
        attached.append(
            AttachedPolicy(
                name=_text(policy, "PolicyName", place), arn=_text(policy, "PolicyArn", place)
            )
        )
    return tuple(attached)


def _boundary(item: Mapping[str, Any]) -> str | None:
    return (item.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")


def _tags(item: Mapping[str, Any], where: str) -> dict[str, str]:
    tags = {}
    for index, tag in enumerate(_list(item, "Tags", where)):
        place = f"{where}.Tags[{index}]"
        tag = _object(tag, place)
        tags[_text(tag, "Key", place)] = _optional_text(tag, "Value", place) or ""
    return tags


def _document(value: Any, where: str) -> dict[str, Any]:
    """A policy document as a dict. On the wire it is URL-encoded JSON; boto3 decodes it, the
    AWS CLI prints it decoded, but saved raw responses may still hold the encoded string."""
    if isinstance(value, dict):
        check_policy_document(value, where)
        return value
    if isinstance(value, str):
        # Plain JSON first, so that a literal "%" inside a decoded document is not unquoted.
        for candidate in (value, unquote(value)):
            try:
                document = json.loads(candidate)
            except (ValueError, RecursionError):
                continue
            if isinstance(document, dict):
                if found := unusable_text(document):
                    raise ParseError(found[1], field=f"{where}.{found[0]}")
                check_policy_document(document, where)
                return document
        raise ParseError("not a JSON policy document (plain or URL-encoded)", field=where)
    if value is None:
        raise ParseError("missing", field=where)
    raise ParseError(f"expected a policy document, found {type(value).__name__}", field=where)


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ParseError(f"expected an object, found {type(value).__name__}", field=where)
    return value


def _list(item: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = item.get(key) or []
    if not isinstance(value, list):
        raise ParseError(f"expected a list, found {type(value).__name__}", field=f"{where}.{key}")
    return value


def _optional_text(item: Mapping[str, Any], key: str, where: str) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ParseError(f"expected text, found {_kind(value)}", field=f"{where}.{key}")
    return value


def _optional_int(item: Mapping[str, Any], key: str, where: str) -> int | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise ParseError(
            f"expected a whole number from 0 to 2147483647, found {_kind(value)}",
            field=f"{where}.{key}",
        )
    return value


def _texts(item: Mapping[str, Any], key: str, where: str) -> list[str]:
    values = _list(item, key, where)
    for index, value in enumerate(values):
        if not isinstance(value, str):
            raise ParseError(
                f"expected text, found {_kind(value)}", field=f"{where}.{key}[{index}]"
            )
    return values


def _kind(value: Any) -> str:
    """How a JSON value reads in a message: `text "abc"`, `an object`, `a list`, `a number`."""
    if isinstance(value, str):
        return f"text {json.dumps(value[:40])}"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _text(item: Mapping[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if value is None or value == "":
        raise ParseError("missing", field=f"{where}.{key}")
    if not isinstance(value, str):
        raise ParseError(f"expected text, found {type(value).__name__}", field=f"{where}.{key}")
    return value
