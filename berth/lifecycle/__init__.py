"""Lifecycle policies as ECR runs them: a repository's rules (policy), what they select
(evaluation, streamed newest image first), previews of that, and the periodic run that
expires or archives what they select (services, tasks)."""
