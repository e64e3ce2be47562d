"""Searching registers as people type: without Vietnamese diacritics, in any case.

"chi thi" finds "Chỉ thị"; "dang uy" finds "Đảng ủy". Stored text and queries are folded the
same way, so the database compares plain ASCII-ish words.
"""

from __future__ import annotations

import unicodedata

# Đ/đ is a letter of its own, not D with a mark: NFD leaves it whole.
_LETTERS = str.maketrans({"đ": "d", "Đ": "d"})


def fold(text: str) -> str:
    """Lower case, no diacritics, single spaces."""
    decomposed = unicodedata.normalize("NFD", text.translate(_LETTERS))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.lower().split())


def terms(query: str) -> list[str]:
    """The words of a query, folded; each must appear in what is found."""
    return [t for t in dict.fromkeys(fold(query).split()) if t]
