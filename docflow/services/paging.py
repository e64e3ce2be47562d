"""Keyset-paged lists: how many rows one page holds."""

from __future__ import annotations


def page_size(limit: int) -> int:
    """How many rows a list returns for the `limit` asked: 1 to 500."""
    return max(1, min(limit, 500))
