"""Identity and access management for Berth (see the subpackages, e.g. ``berth.iam.policy``
for the IAM policy language)."""
