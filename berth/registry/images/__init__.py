"""Images: manifests and their image tags (``manifests``: put, get, delete; ``format``:
parsing and validating the four manifest types; ``deletion``: the one path that deletes an
image or a tag), and images as ECR's API sees them (``service``)."""
