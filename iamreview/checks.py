"""System checks (`manage.py check --deploy` and every start) for settings that weaken security."""

from django.conf import settings
from django.core.checks import Error, Warning, register

# .env.example once shipped keys like "change-me-to-a-long-random-string": set, so the startup
# check for a missing key passed, and the same for everyone who copied the file unedited.
PLACEHOLDER_PREFIX = "change-me"


@register(deploy=True)
def audit_log_key(app_configs, **kwargs) -> list[Warning]:
    if settings.AUDIT_LOG_KEY:
        return []
    return [
        Warning(
            "AUDIT_LOG_KEY is not set: the audit log's hash chain is not keyed, so someone who "
            "can write to the database could edit an entry and recompute every hash after it.",
            hint="Set AUDIT_LOG_KEY (required when DEBUG is off) and keep it out of the database.",
            id="iamreview.W001",
        )
    ]


@register(deploy=True)
def placeholder_keys(app_configs, **kwargs) -> list[Error]:
    return [
        Error(
            f"{name} is a placeholder ({PLACEHOLDER_PREFIX}...), not a secret: anyone who has "
            "read .env.example knows it.",
            hint=(
                f"Set {name} to a random value: "
                "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
            ),
            id="iamreview.E001",
        )
        for name in ("SECRET_KEY", "AUDIT_LOG_KEY")
        if str(getattr(settings, name) or "").lower().startswith(PLACEHOLDER_PREFIX)
    ]
