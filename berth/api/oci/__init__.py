"""The OCI Distribution 1.1 front-end: parses requests, calls the registry, writes responses."""
