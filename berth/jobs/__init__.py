"""Background work that runs once across workers and nodes, under database leases."""
