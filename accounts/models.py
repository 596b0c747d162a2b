from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

EMAIL_TAKEN = (
    "A person with this email address already exists (addresses are compared regardless of case)."
)


def email_key(value: object) -> str:
    """An address as people are found by it: stripped and lowered as every write stores it;
    "" (no one) for an address with a character that is not ASCII yet lowers to ASCII (the
    Kelvin sign "K" lowers to "k": "ada@Kraken.com", a domain anyone may register, would be
    "ada@kraken.com")."""
    if not isinstance(value, str):
        return ""
    if any(not c.isascii() and c.lower().isascii() for c in value):
        return ""
    return value.strip().lower()


class UserQuerySet(models.QuerySet):
    def with_email(self, value: object) -> "UserQuerySet":
        """The people with this address, in any case: their address lowered by the database
        (which the unique index holds) equal to `email_key(value)`. SQL's case-insensitive
        match (`UPPER()`) folded look-alikes: "ada.admın@" (dotless ı) found "ada.admin@"."""
        key = email_key(value)
        if not key:
            return self.none()
        return self.alias(email_lower=Lower("email")).filter(email_lower=key)


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields):
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields):
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        return self.create_user(email, password, **fields)

    def get_by_natural_key(self, username):
        """The person with this email address, in any case. Addresses are stored in lower case
        (Python's), so the address lowered the same way must equal one: SQL's case-insensitive
        match (`UPPER()`) folds "ı" and "ſ" to I and S, and "ada.admın@" logged in as
        "ada.admin@". Should two still match, that is no one rather than an error."""
        matches = list(self.with_email(username)[:2])
        if len(matches) != 1:
            raise self.model.DoesNotExist("No single person has this email address")
        return matches[0]


class User(AbstractBaseUser, PermissionsMixin):
    """A person who uses iamreview. Logs in with their email address."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(
        default=False, help_text="Set automatically for Administrators (Django admin access)."
    )
    date_joined = models.DateTimeField(default=timezone.now)
    # The identity provider (`iss`) and its `sub` for this person, kept from their first single
    # sign-on: later sign-ins match on both (a `sub` is unique only within its issuer), so
    # another identity claiming the same email is refused. An administrator may clear them.
    sso_issuer = models.CharField(max_length=300, blank=True, default="")
    sso_subject = models.CharField(max_length=255, blank=True, default="")

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]
        permissions = [
            ("manage_aws_accounts", "Manage AWS accounts and collection"),
            ("manage_people", "Manage people and their roles"),
            ("decide_review_items", "Decide review items"),
            ("sign_off_cycles", "Sign off review cycles"),
            ("view_evidence", "View findings, inventory and reviews"),
            ("export_evidence", "Export evidence for audits"),
        ]
        constraints = [
            # Login matches addresses case-insensitively, so two that differ only in case
            # would be one login for two people.
            models.UniqueConstraint(
                Lower("email"),
                name="user_email_unique_ignoring_case",
                violation_error_message=EMAIL_TAKEN,
            ),
            models.UniqueConstraint(
                fields=["sso_issuer", "sso_subject"],
                condition=~models.Q(sso_subject=""),
                name="one_person_per_sso_subject",
            ),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def display_name(self) -> str:
        return self.full_name or self.email

    # Django saves a new hash of a correct password when the hasher or its iterations changed
    # since the stored one was made (a login after an upgrade). While it checks one, the hash
    # it checks is kept here: the audit log (accounts/access_audit.py) tells that re-hash of
    # the same password from a change of it.
    _hash_being_checked: str | None = None

    def check_password(self, raw_password: str) -> bool:
        self._hash_being_checked = self.password
        try:
            return super().check_password(raw_password)
        finally:
            self._hash_being_checked = None

    async def acheck_password(self, raw_password: str) -> bool:
        self._hash_being_checked = self.password
        try:
            return await super().acheck_password(raw_password)
        finally:
            self._hash_being_checked = None


class LinkedIdentity(models.Model):
    """An IAM identity that is this person's own: they may not review items about it."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="linked_identities")
    arn = models.CharField(max_length=2048)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["arn"]
        verbose_name_plural = "linked identities"
        constraints = [models.UniqueConstraint(fields=["user", "arn"], name="link_once")]

    def __str__(self) -> str:
        return self.arn


class ApiToken(models.Model):
    """A personal API token. Only its SHA-256 is stored; the token is shown once."""

    class Scope(models.TextChoices):
        """What the token may do, within its owner's capabilities (never beyond them). The API
        operations each scope may call are declared on them (findings/api/auth.py TokenAuth)."""

        FULL = "full", "Full: everything your roles allow"
        RELEASE_PIPELINE = (
            "release-pipeline",
            "Release pipeline: register releases and read cycles, items and findings",
        )

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text="First characters, to recognise it")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Every token ends: one of a person who leaves through the identity provider (never signed
    # in again here, so never deactivated) stops working by itself.
    expires_at = models.DateTimeField()
    # The id of the profile form that created it: the same form sent twice, even at the same
    # moment, makes one token (the constraint decides between two requests at once).
    form_id = models.CharField(max_length=64, blank=True, default="")
    # Set when the token is made, never changed: a narrower token is a new token.
    scope = models.CharField(max_length=32, choices=Scope.choices, default=Scope.FULL)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "form_id"],
                condition=~models.Q(form_id=""),
                name="one_token_per_form",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()


class DigestPreference(models.Model):
    """How often a person gets the email digest, and when the last one was handled."""

    class Frequency(models.TextChoices):
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly (Mondays)"
        OFF = "off", "Off"

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="digest_preference")
    frequency = models.CharField(max_length=10, choices=Frequency.choices, default=Frequency.WEEKLY)
    # Set when a digest went out, or was due with nothing to say: the next one starts from here.
    last_sent_at = models.DateTimeField(null=True, blank=True)
    # Emails that actually went out (a period with nothing to say sends none): /metrics.
    emails_sent = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.user.email}: {self.frequency}"
