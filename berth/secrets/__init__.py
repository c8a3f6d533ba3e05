"""Sealed secrets (AWS Secrets Manager's role, as far as ECR needs it): what a pull-through
cache rule's ``credentialArn`` names. Administrators put them per account and region with
``berth admin secrets``; the values are sealed with the master key and never listed;
``SecretService.resolve`` opens one by its ARN (full, or partial without the suffix)."""
from .models import Secret, SecretError, SecretNotFound, SecretUnreadable
from .services import SecretService

__all__ = ["Secret", "SecretError", "SecretNotFound", "SecretService", "SecretUnreadable"]
