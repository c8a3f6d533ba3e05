"""Background work claimed through the metadata database, so that it runs once across workers
and nodes and survives a node's death (queue.py, runner.py); periodic work is one queued job
per period (schedule.py)."""
