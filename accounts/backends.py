"""Authentication backends: Django's, with a person's permissions read with the person.

Django's ModelBackend reads a user's own permissions and their groups' permissions in two
queries on every request that checks one; every page does (the navigation shows what the person
may do). Here, on PostgreSQL, the session's user and their permission names are one statement,
built once per process from the models' tables (every page runs it: the ORM's compiling and
the planner's work on an OR of two joins cost a millisecond more than the query itself);
elsewhere one query each. The names are cached on the user object for the request, as Django
does. Nothing is kept between requests: a role taken away applies at the person's next request.
"""

from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import Q, Value
from django.db.models.functions import Concat


def _column(model, field: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(field).column)


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@cache
def _user_with_permissions_sql(by_token: bool) -> tuple[str, list[str]]:
    """SELECT of one user's columns, an array of their permission names ("app_label.codename",
    through their own permissions and their groups'), one of their groups' names and one of
    their linked IAM identities' ARNs: the user with the id given, or (`by_token`) the active
    owner of the unrevoked API token with the hash given, then that token's id, when it was
    last used and its scope. Every name comes from the models' metadata, quoted."""
    from accounts.models import ApiToken, LinkedIdentity

    User = get_user_model()
    fields = list(User._meta.concrete_fields)
    own, member, granted = (
        User.user_permissions.through,
        User.groups.through,
        Group.permissions.through,
    )
    names = {
        "columns": ", ".join(f"u.{connection.ops.quote_name(f.column)}" for f in fields),
        "users": _table(User),
        "user_id": _column(User, "id"),
        "active": _column(User, "is_active"),
        "permissions": _table(Permission),
        "perm_id": _column(Permission, "id"),
        "codename": _column(Permission, "codename"),
        "perm_type": _column(Permission, "content_type"),
        "types": _table(ContentType),
        "type_id": _column(ContentType, "id"),
        "app_label": _column(ContentType, "app_label"),
        "own": _table(own),
        "own_user": _column(own, "user"),
        "own_perm": _column(own, "permission"),
        "member": _table(member),
        "member_user": _column(member, "user"),
        "member_group": _column(member, "group"),
        "granted": _table(granted),
        "granted_group": _column(granted, "group"),
        "granted_perm": _column(granted, "permission"),
        "groups": _table(Group),
        "group_id": _column(Group, "id"),
        "group_name": _column(Group, "name"),
        "links": _table(LinkedIdentity),
        "link_user": _column(LinkedIdentity, "user"),
        "link_arn": _column(LinkedIdentity, "arn"),
        "tokens": _table(ApiToken),
        "token_id": _column(ApiToken, "id"),
        "token_user": _column(ApiToken, "user"),
        "token_hash": _column(ApiToken, "token_hash"),
        "token_used": _column(ApiToken, "last_used_at"),
        "token_revoked": _column(ApiToken, "revoked_at"),
        "token_expires": _column(ApiToken, "expires_at"),
        "token_scope": _column(ApiToken, "scope"),
    }
    if by_token:
        source = (
            ", t.{token_id}, t.{token_used}, t.{token_scope} FROM {users} u"
            " JOIN {tokens} t ON t.{token_user} = u.{user_id}"
            " WHERE t.{token_hash} = %s AND t.{token_revoked} IS NULL"
            " AND t.{token_expires} > now() AND u.{active}"
        )
    else:
        source = " FROM {users} u WHERE u.{user_id} = %s"
    # Only quoted names from the models' metadata go into the text; values are parameters.
    select = (
        "SELECT {columns}, ARRAY("
        " SELECT ct.{app_label} || '.' || p.{codename}"
        " FROM {permissions} p JOIN {types} ct ON ct.{type_id} = p.{perm_type}"
        " WHERE p.{perm_id} IN ("
        "  SELECT o.{own_perm} FROM {own} o WHERE o.{own_user} = u.{user_id}"
        "  UNION"
        "  SELECT g.{granted_perm} FROM {member} m"
        "  JOIN {granted} g ON g.{granted_group} = m.{member_group}"
        "  WHERE m.{member_user} = u.{user_id})),"
        " ARRAY(SELECT r.{group_name} FROM {groups} r JOIN {member} m"
        "  ON m.{member_group} = r.{group_id} WHERE m.{member_user} = u.{user_id}),"
        " ARRAY(SELECT l.{link_arn} FROM {links} l WHERE l.{link_user} = u.{user_id})"
    )
    return (select + source).format(**names), [field.attname for field in fields]


def user_with_permissions(*, user_id: int | None = None, token_hash: str | None = None):
    """On PostgreSQL, in one statement: the user with `user_id`, or the active owner of the
    unrevoked token with `token_hash` (then also the token's id, last use and scope), their
    permission names cached on them for the request, their groups' names as `role_names`, their
    linked identities' ARNs as `linked_arn_set`.
    None if there is no such user; the caller checks `is_active` for an id. Returns (user,
    extra columns)."""
    User = get_user_model()
    sql, attnames = _user_with_permissions_sql(token_hash is not None)
    with connection.cursor() as cursor:
        cursor.execute(sql, [user_id if token_hash is None else token_hash])
        row = cursor.fetchone()
    if row is None:
        return None, ()
    width = len(attnames)
    # Raw values, without the fields' converters: right for every column User has (text,
    # booleans, dates); a JSON or custom field added to User would need its converter here.
    user = User.from_db(connection.alias, attnames, row[:width])
    if not user.is_superuser:
        user._perm_cache = set(row[width])
    user.role_names = frozenset(row[width + 1])  # accounts.permissions.roles_of reads it
    # Their own IAM identities (segregation of duties: findings.reviews.services.linked_arns).
    user.linked_arn_set = frozenset(row[width + 2])
    return user, row[width + 3 :]


def _permission_names(user_id) -> set[str]:
    return set(
        Permission.objects.filter(Q(user=user_id) | Q(group__user=user_id))
        .annotate(full_codename=Concat("content_type__app_label", Value("."), "codename"))
        .values_list("full_codename", flat=True)
        .distinct()
    )


class OneQueryPermissions:
    def get_user(self, user_id):
        """The session's person, active only; on PostgreSQL with their permission names."""
        User = get_user_model()
        try:
            user_id = User._meta.pk.to_python(user_id)
        except Exception:  # noqa: BLE001 - a session naming no valid id is no one
            return None
        if connection.vendor == "postgresql":
            user, _ = user_with_permissions(user_id=user_id)
        else:
            user = User._default_manager.filter(pk=user_id).first()
        if user is None or not user.is_active:
            return None
        return user

    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            if user_obj.is_superuser:
                user_obj._perm_cache = set(
                    Permission.objects.annotate(
                        full_codename=Concat("content_type__app_label", Value("."), "codename")
                    ).values_list("full_codename", flat=True)
                )
            else:
                user_obj._perm_cache = _permission_names(user_obj.pk)
        return user_obj._perm_cache


class PasswordBackend(OneQueryPermissions, ModelBackend):
    """Local accounts: email and password (Django's ModelBackend)."""
