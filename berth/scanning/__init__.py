"""Vulnerability scanning (ECR's basic and enhanced scanning): what an image contains
(``inventory``: packages read from its layers, cached by layer digest), what is known about
packages (``vulndb``: OSV advisories imported offline), and the scans that match the two
(``services``, run as jobs by ``tasks``)."""
