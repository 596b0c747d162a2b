"""The only package that talks to AWS (and the only one that imports boto3/botocore).

Fetch functions take a boto3 client (or a session) and return frozen dataclasses from
``records``; parse functions take bytes or dicts in AWS's own formats and return the same
records, so an uploaded CLI file and a live collection look alike. Nothing here touches the
database or imports Django. Failures arrive as ``errors.AwsError`` (AWS said no) or
``errors.ParseError`` (input we cannot read), each with a message a person can act on.

Import from the modules directly (``from findings.aws.credential_report import ...``).
"""
