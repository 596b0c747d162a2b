"""Your profile: your IAM identities (for segregation of duties), your personal API tokens
and how often you get the email digest."""

import hashlib
import re
import secrets

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.models import ApiToken, DigestPreference, LinkedIdentity, User
from accounts.permissions import Capability, can, requires, roles_of
from accounts.tokens import DEFAULT_TOKEN_DAYS, TOKEN_DAYS, create_token, revoke_token

# ASCII only: IAM's account ids and names are, and without re.ASCII `\d` and `\w` also match
# other scripts' digits and letters (an ARN no identity has, which then matched nothing).
IDENTITY_ARN = re.compile(r"arn:aws(-cn|-us-gov)?:iam::\d{12}:(user|role)/[\w+=,.@/-]+", re.ASCII)


def identity_arn(value: str) -> str:
    """The IAM user or role ARN given, without surrounding spaces; for the profile's form and
    the admin's alike."""
    arn = value.strip()
    if not IDENTITY_ARN.fullmatch(arn):
        raise forms.ValidationError(
            "An IAM user or role ARN looks like arn:aws:iam::123456789012:user/alice "
            "or arn:aws:iam::123456789012:role/deploy."
        )
    return arn


class IdentityForm(forms.Form):
    arn = forms.CharField(
        label="IAM user or role ARN",
        max_length=2048,
        widget=forms.TextInput(attrs={"placeholder": "arn:aws:iam::123456789012:user/alice"}),
        help_text="An IAM identity that is yours: you will not be asked to review items about it.",
    )

    def clean_arn(self) -> str:
        return identity_arn(self.cleaned_data["arn"])


class TokenForm(forms.Form):
    name = forms.CharField(
        label="Token name",
        max_length=100,
        widget=forms.TextInput(attrs={"placeholder": "release pipeline"}),
        help_text="What it is for, so you recognise it later.",
    )
    scope = forms.ChoiceField(
        label="Scope",
        choices=ApiToken.Scope.choices,
        required=False,  # not sent (an older page): full, as every token was before scopes
        initial=ApiToken.Scope.FULL,
        help_text="Never more than your roles allow. A release pipeline's token registers "
        "releases and reads cycles, items and findings: it cannot decide items, sign off or "
        "change anything else.",
    )
    days = forms.TypedChoiceField(
        label="Works for",
        choices=[(days, f"{days} days") for days in TOKEN_DAYS],
        coerce=int,
        required=False,  # not sent (an older page): 90 days
        empty_value=DEFAULT_TOKEN_DAYS,
        initial=DEFAULT_TOKEN_DAYS,
        help_text="Then it stops by itself: make a new one before.",
    )
    # One per rendered form: the same form sent again (a reload of the page that showed the
    # token, a double click) creates no second token.
    form_id = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)


class DigestForm(forms.Form):
    frequency = forms.ChoiceField(
        label="Email digest",
        choices=DigestPreference.Frequency.choices,
        help_text="What is assigned to you, due or overdue, waiting for sign-off, and new "
        "high-risk findings. Only people with a role get one, and only when there is news.",
    )


# --- Write functions ----------------------------------------------------------------------------


@transaction.atomic
def link_identity(*, user: User, arn: str, actor: User | None = None) -> LinkedIdentity:
    from findings.audit.services import record

    identity = LinkedIdentity.objects.create(user=user, arn=arn)
    record(
        actor=actor or user,
        action="identity.linked",
        target_type="linked_identity",
        target_id=identity.pk,
        target_label=f"{arn} of {user.email}",
        after={"arn": arn, "user": user.email},
    )
    return identity


class SeparationOfDuties(PermissionDenied):
    pass


@transaction.atomic
def unlink_identity(*, identity: LinkedIdentity, actor: User) -> None:
    """Remove a link: only another administrator may (a person removing their own link could
    then decide the items about that identity)."""
    from findings.audit.services import record

    if identity.user_id == actor.pk:
        raise SeparationOfDuties(
            "You cannot remove an IAM identity linked to you (segregation of duties): "
            "another administrator removes it, in the admin under Linked identities."
        )
    if not can(actor, Capability.MANAGE_PEOPLE):
        raise SeparationOfDuties("Only an administrator can remove a linked identity.")
    record(
        actor=actor,
        action="identity.unlinked",
        target_type="linked_identity",
        target_id=identity.pk,
        target_label=f"{identity.arn} of {identity.user.email}",
        before={"arn": identity.arn, "user": identity.user.email},
    )
    identity.delete()


@transaction.atomic
def set_digest_frequency(*, user: User, frequency: str) -> bool:
    """Returns False when nothing changed."""
    from findings.audit.services import record

    preference, _ = DigestPreference.objects.select_for_update().get_or_create(user=user)
    before = preference.frequency
    if before == frequency:
        return False
    preference.frequency = frequency
    preference.save(update_fields=["frequency"])
    record(
        actor=user,
        action="digest.preference_changed",
        target_type="user",
        target_id=user.pk,
        target_label=user.email,
        before={"frequency": before},
        after={"frequency": frequency},
    )
    return True


# --- Views ----------------------------------------------------------------------------------------


def render_profile(
    request, *, identity_form=None, token_form=None, digest_form=None, status: int = 200
):
    preference = DigestPreference.objects.filter(user=request.user).first()
    frequency = preference.frequency if preference else DigestPreference.Frequency.WEEKLY
    context = {
        "roles": roles_of(request.user),
        "identities": LinkedIdentity.objects.filter(user=request.user),
        "tokens": ApiToken.objects.filter(user=request.user),
        "identity_form": identity_form or IdentityForm(auto_id="identity-%s"),
        "token_form": token_form
        or TokenForm(auto_id="token-%s", initial={"form_id": secrets.token_urlsafe(16)}),
        "digest_form": digest_form
        or DigestForm(initial={"frequency": frequency}, auto_id="digest-%s"),
    }
    return render(request, "accounts/profile.html", context, status=status)


@never_cache  # Back shows it fresh, with a new token form
@requires()
@require_GET
def profile(request):
    return render_profile(request)


# Each needs only a logged-in person: everyone manages their own identities and tokens.
@requires()
@require_POST
def identity_add(request):
    form = IdentityForm(request.POST, auto_id="identity-%s")
    if form.is_valid():
        try:
            link_identity(user=request.user, arn=form.cleaned_data["arn"])
        except IntegrityError:
            form.add_error("arn", "This identity is already linked to you.")
        else:
            messages.success(request, f"Linked {form.cleaned_data['arn']} to you.")
            return redirect("profile")
    return render_profile(request, identity_form=form)


@requires()
@require_POST
def identity_remove(request, pk: int):
    identity = get_object_or_404(LinkedIdentity, pk=pk, user=request.user)
    try:
        # Always refused here (these are your own links); kept as a URL so that old pages
        # and scripts get a clear answer rather than a 404.
        unlink_identity(identity=identity, actor=request.user)
    except SeparationOfDuties as refused:
        messages.error(request, str(refused))
        return render_profile(request, status=403)
    messages.success(request, f"Unlinked {identity.arn}.")
    return redirect("profile")


@never_cache
@requires()
@require_POST
def token_create(request):
    form = TokenForm(request.POST, auto_id="token-%s")
    if not can(request.user, Capability.VIEW):
        # Every API call would answer 403: a token of no use, and one more secret about.
        form.add_error(None, "A token acts with your roles, and you hold none yet.")
        return render_profile(request, token_form=form, status=403)
    if not form.is_valid():
        return render_profile(request, token_form=form)
    name = form.cleaned_data["name"].strip()
    # One token per form and name: the same form sent again (a reload, a double click) finds
    # the token it made; seen again with Back and given another name, it is another token,
    # itself made once however often that is sent.
    form_id = sent_form_key(form.cleaned_data["form_id"], name)
    made = ApiToken.objects.filter(user=request.user, form_id=form_id).first() if form_id else None
    if made is not None:
        return _already_created(request, made)
    try:
        token, raw = create_token(
            user=request.user,
            actor=request.user,
            name=name,
            form_id=form_id,
            days=form.cleaned_data["days"],
            scope=form.cleaned_data["scope"] or ApiToken.Scope.FULL,
        )
    except ValueError as exc:
        form.add_error("name", str(exc))
        return render_profile(request, token_form=form)
    except IntegrityError:  # the same form sent twice at once: the other request made it
        return _already_created(request, ApiToken.objects.get(user=request.user, form_id=form_id))
    # Shown on this response only: only its hash is stored.
    return render(request, "accounts/profile_token_created.html", {"token": token, "raw": raw})


def sent_form_key(form_id: str, name: str) -> str:
    """What a token remembers of the form that made it: the form's id and the name sent,
    hashed to the column's 64 characters ("" when the form carried no id)."""
    if not form_id:
        return ""
    return hashlib.sha256(f"{form_id}\n{name}".encode()).hexdigest()


def _already_created(request, token: ApiToken):
    messages.info(
        request,
        f"That form was sent before: the token “{token.name}” was created then and shown "
        "once. Sending it again created no other token.",
    )
    return redirect("profile")


@requires()
@require_POST
def token_revoke(request, pk: int):
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    revoke_token(token=token, actor=request.user)
    messages.success(request, f"Revoked the token “{token.name}”. It no longer works.")
    return redirect("profile")


@requires()
@require_POST
def digest_update(request):
    form = DigestForm(request.POST, auto_id="digest-%s")
    if not form.is_valid():
        return render_profile(request, digest_form=form)
    frequency = form.cleaned_data["frequency"]
    if set_digest_frequency(user=request.user, frequency=frequency):
        label = DigestPreference.Frequency(frequency).label.lower()
        messages.success(request, f"Email digest: {label}.")
    return redirect("profile")
