"""Background job functions and the RQ worker entrypoint."""
