"""Event notifications (EventBridge's role): webhook targets per account, each with an
EventBridge event pattern and an optional HMAC secret (``services``); the outbox subscriber
that turns the events ECR would publish into its EventBridge events and queues a delivery per
matching target (``subscriber``, ``envelope``, ``patterns``); and the job that sends them, at
least once, in order per target and repository, with backoff and a dead-letter state
(``delivery``, ``tasks``)."""
