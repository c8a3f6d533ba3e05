"""The AWS STS API front-end (the AWS query protocol)."""
