"""Adapters behind the service ports: the database, blob stores and job queues."""
