"""Replication (ECR's private image replication): the registry's rules -- which repositories
(prefix filters) go to which destinations (another region, another account) -- and, as the
engine lands, the copies made after each push (``configuration``)."""
