"""Public registries, as ECR Public has them: each account has one, named by its alias
(``public.<domain>/<alias>/<repository>``), whose repositories anyone may pull and whose
catalog data the gallery shows."""
