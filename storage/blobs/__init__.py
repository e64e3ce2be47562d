"""Blob stores: a local folder (embedded default) and S3/MinIO."""
