"""The registry domain: repositories, blobs, uploads, manifests, tags and referrers.

Every protocol front-end (OCI, ECR) goes through these services, so a rule holds on every path.
"""
