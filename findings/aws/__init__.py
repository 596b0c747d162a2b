"""How we talk to AWS: clients, paginated reads and parsers that return plain ``records``.
Imports boto3/botocore and nothing of Django or the rest of findings; failures arrive as
``errors.AwsError`` (AWS said no) or ``errors.ParseError`` (input we cannot read)."""
