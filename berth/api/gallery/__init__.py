"""The public gallery at /gallery: no sign-in, read-only, server-rendered."""
