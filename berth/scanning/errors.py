"""The scanning domain's errors (the ECR API names each as its model does)."""
from __future__ import annotations

from ..registry.errors import RegistryError


class ScanningConfigurationInvalid(RegistryError):
    """A registry scanning configuration ECR would refuse; the message says why."""
    code = "SCANNING_CONFIGURATION_INVALID"


class ScanNotFound(RegistryError):
    """The image has never been scanned."""
    code = "SCAN_NOT_FOUND"


class ScanLimitExceeded(RegistryError):
    """A basic scan of this image was started less than a day ago."""
    code = "SCAN_LIMIT_EXCEEDED"


class ImageArchived(RegistryError):
    """An archived image is not scanned."""
    code = "IMAGE_ARCHIVED"


class ManualScanUnsupported(RegistryError):
    """StartImageScan starts basic scans only: an ENHANCED registry scans on push or
    continuously."""
    code = "MANUAL_SCAN_UNSUPPORTED"
