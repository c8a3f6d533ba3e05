"""Berth: a container image registry that speaks OCI Distribution and the Amazon ECR API."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("berth")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
