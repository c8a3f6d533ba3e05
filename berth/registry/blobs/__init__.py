"""Blobs as repositories have them: linked digests over one content-addressed store
(``service``), uploads into it (``uploads``, their bodies in ``bodies``, hashing state kept
between chunks in ``hashers``)."""
