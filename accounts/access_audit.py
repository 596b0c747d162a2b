"""Every change of who may do what goes to the audit log with before and after, whichever way
it is made: the Django admin, a management command, a page, or a shell.

Model signals are the one place all of those pass through. The acting person comes from the
request (AuditActorMiddleware) or from `acting_as` around a service; otherwise "system".
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.contrib.auth.models import Group, Permission
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save
from django.utils import timezone

from accounts.models import User
from findings.audit.services import record

_actor: ContextVar[object | None] = ContextVar("iamreview_audit_actor", default=None)
USER_FLAGS = ("email", "is_active", "is_staff", "is_superuser", "sso_issuer", "sso_subject")


@contextmanager
def acting_as(user: object | None) -> Iterator[None]:
    token = _actor.set(user)
    try:
        yield
    finally:
        _actor.reset(token)


def current_actor() -> User | None:
    actor = _actor.get()
    return actor if getattr(actor, "is_authenticated", False) else None


class AuditActorMiddleware:
    """Remember who is making this request, for changes recorded by the signals below."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with acting_as(getattr(request, "user", None)):
            return self.get_response(request)


def _permission_names(ids) -> list[str]:
    return sorted(
        f"{app}.{codename}"
        for app, codename in Permission.objects.filter(pk__in=ids).values_list(
            "content_type__app_label", "codename"
        )
    )


def _names_of(instance, relation: str) -> list[str]:
    if relation == "groups":
        return sorted(instance.groups.values_list("name", flat=True))
    if relation == "user_set":
        return sorted(instance.user_set.values_list("email", flat=True))
    return _permission_names(getattr(instance, relation).values_list("pk", flat=True))


_RELATIONS = {
    User.groups.through: ("groups", "user_set", "user.groups_changed", "group.members_changed"),
    User.user_permissions.through: ("user_permissions", None, "user.permissions_changed", None),
    Group.permissions.through: ("permissions", None, "group.permissions_changed", None),
}


def _membership_changed(sender, instance, action, reverse, model, pk_set, **kwargs) -> None:
    forward, backward, forward_action, backward_action = _RELATIONS[sender]
    relation, audit_action = (backward, backward_action) if reverse else (forward, forward_action)
    if relation is None:  # permission.user_set.add(...): recorded on each user or group it gave
        _permission_holders_changed(instance, action, model, pk_set, forward, forward_action)
        return
    if action.startswith("pre_"):
        instance._access_before = _names_of(instance, relation)
        return
    if action not in {"post_add", "post_remove", "post_clear"}:
        return
    _record_change(instance, audit_action, relation, getattr(instance, "_access_before", []))


def _record_change(holder, audit_action: str, relation: str, before: list[str]) -> None:
    """One entry for a user's or group's relation, if it changed."""
    after = _names_of(holder, relation)
    if before == after:
        return
    is_user = isinstance(holder, User)
    record(
        actor=current_actor(),
        action=audit_action,
        target_type="user" if is_user else "group",
        target_id=holder.pk,
        target_label=holder.email if is_user else holder.name,
        before={relation: before},
        after={relation: after},
    )


def _permission_holders_changed(
    permission, action: str, model, pk_set, relation: str, audit_action: str
) -> None:
    """A permission given to or taken from users or groups from the permission's side
    (`permission.user_set.add(user)`, `permission.group_set.clear()`): one entry per user or
    group whose permissions changed, as if changed from its side. Nothing was recorded."""
    if action.startswith("pre_"):
        if pk_set is None:  # clear: every holder
            holders = model.objects.filter(**{relation: permission})
        else:
            holders = model.objects.filter(pk__in=pk_set)
        permission._holders_before = {h.pk: _names_of(h, relation) for h in holders}
        return
    if action not in {"post_add", "post_remove", "post_clear"}:
        return
    before_by_holder = getattr(permission, "_holders_before", {})
    for holder in model.objects.filter(pk__in=list(before_by_holder)).order_by("pk"):
        _record_change(holder, audit_action, relation, before_by_holder[holder.pk])


def _flags(user: User) -> dict:
    return {name: getattr(user, name) for name in USER_FLAGS}


def _touches_flags(update_fields) -> bool:
    return update_fields is None or bool(set(update_fields) & set(USER_FLAGS))


def _remember_user(sender, instance: User, update_fields=None, **kwargs) -> None:
    if not _touches_flags(update_fields):  # last_login, password, preferences: not access
        return
    old = User.objects.filter(pk=instance.pk).values(*USER_FLAGS).first() if instance.pk else None
    instance._access_before = old


def _user_saved(sender, instance: User, created: bool, update_fields=None, **kwargs) -> None:
    if not created and not _touches_flags(update_fields):
        return
    before = getattr(instance, "_access_before", None)
    after = _flags(instance)
    if created or before is None:
        if not after["sso_subject"]:  # not linked to single sign-on: nothing to say
            del after["sso_issuer"], after["sso_subject"]
        after = {**after, "usable_password": instance.has_usable_password()}
        action, before_changed, after_changed = "user.created", None, after
    else:
        changed = [name for name in USER_FLAGS if before[name] != after[name]]
        if not changed:
            return
        deactivated = changed == ["is_active"] and not after["is_active"]
        action = "user.deactivated" if deactivated else "user.changed"
        before_changed = {name: before[name] for name in changed}
        after_changed = {name: after[name] for name in changed}
    record(
        actor=current_actor(),
        action=action,
        target_type="user",
        target_id=instance.pk,
        target_label=instance.email,
        before=before_changed,
        after=after_changed,
    )


def _remember_user_access(sender, instance: User, **kwargs) -> None:
    """What deleting a person takes with them (the cascade deletes it without a signal of
    its own): their roles and direct permissions, live API tokens and linked identities."""
    instance._access_deleted = {
        "groups": _names_of(instance, "groups"),
        "user_permissions": _names_of(instance, "user_permissions"),
        "api_tokens": sorted(
            f"{name} ({prefix}...)"
            for name, prefix in instance.api_tokens.filter(
                revoked_at=None, expires_at__gt=timezone.now()
            ).values_list("name", "prefix")
        ),
        "linked_identities": sorted(instance.linked_identities.values_list("arn", flat=True)),
    }


def _user_deleted(sender, instance: User, **kwargs) -> None:
    record(
        actor=current_actor(),
        action="user.deleted",
        target_type="user",
        target_id=instance.pk,
        target_label=instance.email,
        before={**_flags(instance), **getattr(instance, "_access_deleted", {})},
    )


def _remember_password(sender, instance: User, update_fields=None, **kwargs) -> None:
    if instance.pk and (update_fields is None or "password" in update_fields):
        old = User.objects.filter(pk=instance.pk).values_list("password", flat=True).first()
        # Django's re-hash at login (User.check_password) saves a new hash of the very password
        # the stored hash matched: the same password, not a change.
        rehash = old is not None and old == instance._hash_being_checked
        instance._password_changed = old is not None and old != instance.password and not rehash


def _password_saved(sender, instance: User, created: bool, **kwargs) -> None:
    """Every change of a password, whichever way it is made (a page, the admin, a command, a
    shell), without any hash. Someone signed in setting another person's password can sign in
    as them: that is an action of its own. A person created with a password is in the entry
    of their creation."""
    if created or not getattr(instance, "_password_changed", False):
        return
    instance._password_changed = False
    actor = current_actor()
    someone_else = actor is not None and actor.pk != instance.pk
    after = {"usable_password": instance.has_usable_password()}
    record(
        actor=actor,
        action="user.password_set" if someone_else else "user.password_changed",
        target_type="user",
        target_id=instance.pk,
        target_label=instance.email,
        after={"by": actor.email, **after} if someone_else else after,
    )


def _remember_group(sender, instance: Group, **kwargs) -> None:
    if instance.pk:
        instance._name_before = (
            Group.objects.filter(pk=instance.pk).values_list("name", flat=True).first()
        )


def _group_saved(sender, instance: Group, created: bool, **kwargs) -> None:
    if created:
        record(
            actor=current_actor(),
            action="group.created",
            target_type="group",
            target_id=instance.pk,
            target_label=instance.name,
            after={"name": instance.name},
        )
        return
    before = getattr(instance, "_name_before", None)
    if before is not None and before != instance.name:
        # Role names are what iamreview reads (accounts.permissions.roles_of): a renamed role
        # group changes what its members may do.
        record(
            actor=current_actor(),
            action="group.renamed",
            target_type="group",
            target_id=instance.pk,
            target_label=instance.name,
            before={"name": before},
            after={"name": instance.name},
        )
    instance._name_before = instance.name


def _remember_group_access(sender, instance: Group, **kwargs) -> None:
    """Before the deletion takes them: who was in the group and what it granted."""
    instance._access_before = {
        "name": instance.name,
        "members": _names_of(instance, "user_set"),
        "permissions": _permission_names(instance.permissions.values_list("pk", flat=True)),
    }


def _group_deleted(sender, instance: Group, **kwargs) -> None:
    record(
        actor=current_actor(),
        action="group.deleted",
        target_type="group",
        target_id=instance.pk,
        target_label=instance.name,
        before=getattr(instance, "_access_before", None) or {"name": instance.name},
    )


def connect() -> None:
    for through in _RELATIONS:
        m2m_changed.connect(_membership_changed, sender=through, dispatch_uid=f"audit-{through}")
    pre_save.connect(_remember_user, sender=User, dispatch_uid="audit-user-pre")
    post_save.connect(_user_saved, sender=User, dispatch_uid="audit-user-post")
    pre_delete.connect(_remember_user_access, sender=User, dispatch_uid="audit-user-delete-pre")
    post_delete.connect(_user_deleted, sender=User, dispatch_uid="audit-user-delete")
    pre_save.connect(_remember_password, sender=User, dispatch_uid="audit-password-pre")
    post_save.connect(_password_saved, sender=User, dispatch_uid="audit-password-post")
    pre_save.connect(_remember_group, sender=Group, dispatch_uid="audit-group-pre")
    post_save.connect(_group_saved, sender=Group, dispatch_uid="audit-group-post")
    pre_delete.connect(_remember_group_access, sender=Group, dispatch_uid="audit-group-pre-delete")
    post_delete.connect(_group_deleted, sender=Group, dispatch_uid="audit-group-delete")
