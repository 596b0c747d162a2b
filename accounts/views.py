from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseForbidden
from django.urls import reverse_lazy
from django.views.decorators.http import require_GET
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView


class LoginForm(AuthenticationForm):
    """Django's login form, but an address longer than any account's is refused as a wrong
    login before anything looks it up: the lockout's record of failed attempts holds 255
    characters, and a longer one was a 500. (The form sets the field's maximum length after
    the field is built, so nothing else checks it.)"""

    def clean(self):
        limit = get_user_model()._meta.get_field(get_user_model().USERNAME_FIELD).max_length
        if len(self.cleaned_data.get("username") or "") > limit:
            raise self.get_invalid_login_error()
        return super().clean()

    def confirm_login_allowed(self, user):
        """Someone linked to the identity provider signs in there: their roles follow its
        groups at each sign-in, and a person it offboarded or moved must not keep access
        through an old local password. Said only once the password was right (it tells
        nothing to someone guessing). An account never linked (a break-glass administrator)
        keeps its password."""
        super().confirm_login_allowed(user)
        if (
            settings.OIDC_ENABLED
            and user.sso_subject
            and user.sso_issuer == (settings.OIDC_OP_ISSUER)
        ):
            raise ValidationError(
                "This account signs in with single sign-on: use the single sign-on button.",
                code="sso_only",
            )


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def get_redirect_url(self):
        """The `next` page, unless it is this very page: someone signed in who opens the login
        page with `?next=/accounts/login/` (a stale bookmark) goes to the dashboard; Django
        refuses that redirect loop with an error (a 500)."""
        target = super().get_redirect_url()
        return "" if target == self.request.path else target

    def post(self, request, *args, **kwargs):
        if not settings.LOCAL_PASSWORDS_ENABLED:
            return HttpResponseForbidden(
                "Passwords are turned off here: log in with single sign-on.",
                content_type="text/plain; charset=utf-8",
            )
        return super().post(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return {
            **super().get_context_data(**kwargs),
            "sso_enabled": settings.OIDC_ENABLED,
            "passwords_enabled": settings.LOCAL_PASSWORDS_ENABLED,
            "sso_failed": "sso" in self.request.GET,
        }


def _sso_configured() -> None:
    if not settings.OIDC_ENABLED:
        raise Http404("Single sign-on is not configured")


@login_not_required
@require_GET
def sso_login(request):
    """Sends the browser to the identity provider (state and nonce kept in the session)."""
    _sso_configured()
    return OIDCAuthenticationRequestView.as_view()(request)


@login_not_required
@require_GET
def sso_callback(request):
    """The identity provider sends the browser back here with a code."""
    _sso_configured()
    return OIDCAuthenticationCallbackView.as_view()(request)


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("profile")

    def dispatch(self, request, *args, **kwargs):
        if not settings.LOCAL_PASSWORDS_ENABLED:
            return HttpResponseForbidden(
                "Passwords are turned off here: your identity provider manages sign-in.",
                content_type="text/plain; charset=utf-8",
            )
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form):
        messages.success(self.request, "Your password was changed.")
        return super().form_valid(form)
