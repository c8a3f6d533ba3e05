"""The audit trail (CloudTrail's role): an event per ECR and admin API call, per registry
request (pushes, pulls, deletes: named as ECR's CloudTrail names what docker does), per
authorization refusal, and per lifecycle action. Requests are recorded by an observer that
writes in batches (never a write per pull); lifecycle actions in their own transaction."""
