"""System checks (`manage.py check --deploy` and every start) for settings that weaken security."""

from django.conf import settings
from django.core.checks import Warning, register


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
