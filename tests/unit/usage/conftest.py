"""Usage tests build state through the domain, as tests/unit/registry/test_usage.py does."""
from tests.unit.registry.test_usage import world  # noqa: F401  (a fixture)
