"""The ``berth`` command line."""
