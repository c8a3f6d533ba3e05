"""Berth: a container image registry that speaks OCI Distribution and the Amazon ECR API."""


def __getattr__(name: str) -> str:
    # Looked up only when asked for (``berth --version``): importlib.metadata costs every
    # process that imports berth ~20 ms, the credential helper run per docker operation too.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("berth")
        except PackageNotFoundError:  # run from a source tree that was never installed
            return "0+unknown"
    raise AttributeError(f"module 'berth' has no attribute {name!r}")
