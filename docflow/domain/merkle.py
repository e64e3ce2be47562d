"""Merkle trees as RFC 9162 (Certificate Transparency 2.0, §2.1) defines them: the hashes, the
tree head of n leaves, inclusion and consistency proofs, and their verification.

The audit trail's events are the leaves (issue 5). Everything here is pure and works on lists of
leaf hashes; storing the tree's nodes so that proofs at millions of leaves stay cheap is the
storage side's concern. Verification follows the RFC's algorithms step by step, strictly: a
proof that is too long, too short or for impossible sizes is refused, not trimmed.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Mapping, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The head of the empty tree: MTH({}) = HASH()."""


class ProofError(ValueError):
    """A proof does not prove what it claims (or cannot, for the sizes given)."""


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = HASH(0x00 || d)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """HASH(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1): where the RFC splits a tree."""
    return 1 << ((n - 1).bit_length() - 1)


Node = tuple[int, int]
"""A perfect subtree as stored, (level, index): leaves index·2^level up to (index+1)·2^level."""


def subtrees(lo: int, hi: int) -> list[Node]:
    """The perfect subtrees, left to right, whose combination is MTH(D[lo:hi]); `lo` is
    aligned as the RFC's splits leave it (a multiple of the largest power of two ≤ hi-lo)."""
    keys: list[Node] = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        keys.append((level, lo >> level))
        lo += 1 << level
    return keys


def combine(hashes: Sequence[bytes]) -> bytes:
    """The head of adjacent perfect subtrees (left to right, sizes decreasing): the right
    edge of an RFC tree folds from the smallest up."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose heads make PATH(index, D[size]), in the proof's order."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size}")
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    return ranges[::-1]


def consistency_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """The leaf ranges whose heads make PROOF(size1, D[size2]), in the proof's order."""
    if not 0 < size1 <= size2:
        raise ProofError(f"no consistency proof from {size1} to {size2}")
    ranges: list[tuple[int, int]] = []
    lo, hi, m, whole = 0, size2, size1, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        ranges.append((lo, hi))
    return ranges[::-1]


def heads(ranges: Iterable[tuple[int, int]], stored: Mapping[Node, bytes]) -> list[bytes]:
    """The head of each range from the stored perfect subtrees (KeyError if one is missing)."""
    return [combine([stored[key] for key in subtrees(lo, hi)]) for lo, hi in ranges]


def extend(size: int, stored: Mapping[Node, bytes],
           leaves: Sequence[bytes]) -> dict[Node, bytes]:
    """The perfect subtrees that appending `leaves` to a tree of `size` completes, leaves
    included (level 0). `stored` holds at least the tree's right edge, `subtrees(0, size)`."""
    new: dict[Node, bytes] = {}
    for offset, leaf in enumerate(leaves):
        level, index = 0, size + offset
        new[(0, index)] = value = leaf
        while index & 1:
            left = (level, index - 1)
            value = node_hash(new[left] if left in new else stored[left], value)
            level, index = level + 1, index >> 1
            new[(level, index)] = value
    return new


def tree_head_data(timestamp_ms: int, tree_size: int, root_hash: bytes) -> bytes:
    """TreeHeadDataV2 (RFC 9162 §4.10) in TLS encoding, with no extensions: what the log's
    key signs in a signed tree head."""
    _check_hash(root_hash, "the root")
    return struct.pack(">QQB", timestamp_ms, tree_size, len(root_hash)) + root_hash + b"\0\0"


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of the leaf hashes, bottom-up (the same value as the RFC's recursion)."""
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    while len(level) > 1:
        # Pair from the left; an odd last node moves up unchanged (the RFC's unbalanced right).
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(m, D[n]): the audit path of leaf `index` (0-based) in the tree of `leaves`."""
    if not 0 <= index < len(leaves):
        raise ProofError(f"leaf {index} is not in a tree of {len(leaves)}")
    return _path(index, leaves)


def _path(m: int, d: Sequence[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*_path(m, d[:k]), root(d[k:])]
    return [*_path(m - k, d[k:]), root(d[:k])]


def consistency_proof(leaves: Sequence[bytes], size1: int) -> list[bytes]:
    """PROOF(m, D[n]): that the tree of the first `size1` leaves is a prefix of this one."""
    if not 0 < size1 <= len(leaves):
        raise ProofError(f"no consistency proof from {size1} to {len(leaves)}")
    return _subproof(size1, leaves, True)


def _subproof(m: int, d: Sequence[bytes], whole: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if whole else [root(d)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, d[:k], whole), root(d[k:])]
    return [*_subproof(m - k, d[k:], False), root(d[:k])]


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} is {len(value)} bytes, not {HASH_SIZE}")


def verify_inclusion(index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes],
                     expected_root: bytes) -> None:
    """RFC 9162 §2.1.3.2: raise ProofError unless `proof` shows leaf hash `leaf` at `index` in
    the tree of `tree_size` leaves whose head is `expected_root`."""
    _check_hash(leaf, "the leaf hash")
    _check_hash(expected_root, "the root")
    for node in proof:
        _check_hash(node, "a proof node")
    if not 0 <= index < tree_size:
        raise ProofError(f"leaf {index} is not in a tree of {tree_size}")
    fn, sn, r = index, tree_size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("the proof is longer than the path")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the proof is shorter than the path")
    if r != expected_root:
        raise ProofError("the proof does not lead to the root")


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes,
                       proof: Sequence[bytes]) -> None:
    """RFC 9162 §2.1.4.2: raise ProofError unless `proof` shows the tree of `size1` leaves
    (head `root1`) to be a prefix of the tree of `size2` leaves (head `root2`)."""
    if size1 <= 0 or size2 < size1:
        raise ProofError(f"no consistency from {size1} to {size2}")
    if size1 == size2:  # nothing to hash: the heads are the same or the log forked
        if proof:
            raise ProofError("equal sizes take an empty proof")
        if root1 != root2:
            raise ProofError("equal sizes with different roots: a fork")
        return
    _check_hash(root1, "the first root")
    _check_hash(root2, "the second root")
    for node in proof:
        _check_hash(node, "a proof node")
    path = list(proof)
    if not path:
        raise ProofError("the proof is empty")
    if size1 & (size1 - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the proof is longer than needed")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the proof is shorter than needed")
    if fr != root1:
        raise ProofError("the proof does not lead to the first root: the log was rewritten")
    if sr != root2:
        raise ProofError("the proof does not lead to the second root")
