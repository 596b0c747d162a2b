"""A digest as an email: its subject, and its text and HTML bodies, with the sections that
many people share rendered once per run (SharedDigest.section)."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend
from django.urls import reverse

from findings.notifications.digests.common import _absolute
from findings.notifications.digests.contents import Digest
from findings.notifications.digests.shared import SharedDigest


def _email_context(digest: Digest, *, shared: SharedDigest) -> tuple[dict, dict]:
    """The text and HTML templates' contexts. Sections that many people share come rendered
    (the HTML ones escaped by the template engine, see SharedDigest.section)."""
    findings_url = _absolute(reverse("findings"))
    shared_sections = {
        "awaiting_sign_off": {"cycles": digest.awaiting_sign_off},
        "overdue_cycles": {"cycles": digest.overdue_cycles},
        "failures": {"failures": digest.failures},
        "new_findings": {
            "findings": digest.new_findings,
            "count": digest.new_findings_count,
            "more": digest.more_findings,
            "since": digest.since,
            "findings_url": findings_url,
        },
        "checkpoints": {"checkpoints": digest.checkpoints},
    }
    text_sections, html_sections = {}, {}
    for name, context in shared_sections.items():
        text_sections[name], html_sections[name] = shared.section(name=name, context=context)
    common = {
        "digest": digest,
        "profile_url": _absolute(reverse("profile")),
        "review_url": _absolute(reverse("review")),
        "findings_url": findings_url,
    }
    return {**common, "sections": text_sections}, {**common, "sections": html_sections}


def digest_subject(*, digest: Digest, shared: SharedDigest | None = None) -> str:
    # One line, whatever the template's line breaks: a header cannot hold a newline.
    shared = shared or SharedDigest(now=digest.now)
    subject = shared.template(name="emails/digest.subject.txt").render({"digest": digest})
    return " ".join(subject.split())


def digest_email(
    *,
    digest: Digest,
    connection: BaseEmailBackend | None = None,
    shared: SharedDigest | None = None,
) -> EmailMultiAlternatives:
    """The person's email, text and HTML. Pass the run's `shared` to render what people share
    once."""
    shared = shared or SharedDigest(now=digest.now)
    text_context, html_context = _email_context(digest, shared=shared)
    message = EmailMultiAlternatives(
        subject=digest_subject(digest=digest, shared=shared),
        body=shared.template(name="emails/digest.txt").render(text_context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[digest.user.email],
        connection=connection,
        headers={
            "Auto-Submitted": "auto-generated",
            # Mail clients offer "unsubscribe": it opens where the person sets their digest.
            "List-Unsubscribe": f"<{_absolute(reverse('profile'))}#digest-heading>",
        },
    )
    html = shared.template(name="emails/digest.html").render(html_context)
    message.attach_alternative(html, "text/html")
    return message
