"""Service quotas: ECR's limits with ECR's defaults, overridden per deployment or per account
(berth/quotas/services.py), and per-principal rates of the push and pull actions
(berth/quotas/rates.py)."""
