"""EMAIL_PROVIDER=ses: digests and every other email go through Amazon SES (moto's SES here)."""

from email import message_from_string

import pytest
from django.core.mail import EmailMultiAlternatives, get_connection
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

SENDER = "iamreview@example.com"


@pytest.fixture
def ses(settings):
    settings.EMAIL_BACKEND = "anymail.backends.amazon_ses.EmailBackend"
    settings.ANYMAIL = {"AMAZON_SES_CLIENT_PARAMS": {"region_name": "eu-west-1"}}
    with mock_aws():
        import boto3

        boto3.client("ses", region_name="eu-west-1").verify_email_identity(EmailAddress=SENDER)
        yield ses_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"]


def test_an_email_goes_through_ses_with_its_text_and_html(ses):
    message = EmailMultiAlternatives(
        subject="iamreview: 2 items assigned to you",
        body="Hello Rita",
        from_email=f"iamreview <{SENDER}>",
        to=["rita.reviewer@example.com"],
    )
    message.attach_alternative("<p>Hello Rita</p>", "text/html")
    assert message.send() == 1
    assert message.anymail_status.status == {"queued"}
    (sent,) = ses.sent_messages
    assert sent.source == SENDER
    assert "rita.reviewer@example.com" in sent.destinations
    parsed = message_from_string(sent.raw_data)
    assert parsed["Subject"] == "iamreview: 2 items assigned to you"
    parts = {part.get_content_type(): part.get_payload() for part in parsed.walk()}
    assert parts["text/plain"] == "Hello Rita" and parts["text/html"] == "<p>Hello Rita</p>"


def test_a_sender_ses_refuses_is_a_clear_error(ses):
    from anymail.exceptions import AnymailAPIError

    connection = get_connection()
    message = EmailMultiAlternatives(
        "x", "y", "nobody@unverified.example", ["a@example.com"], connection=connection
    )
    with pytest.raises(AnymailAPIError):
        message.send()
