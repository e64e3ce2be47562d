"""Job queues: RQ on Redis (production) and an in-process runner (embedded default)."""
