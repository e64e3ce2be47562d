"""RFC 9162 Merkle trees: the 196 vectors of transparency-dev/merkle (in ../shared/testdata when
present), and trees of every size up to 70 built and checked here, every proof and every
tampering with one."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from docflow.domain import merkle
from docflow.domain.merkle import ProofError

VECTORS = Path(os.environ.get(
    "DOCFLOW_MERKLE_VECTORS",
    Path(__file__).resolve().parents[3] / "shared" / "testdata" / "merkle-vectors"))


def _vectors(kind: str) -> list[Path]:
    return sorted((VECTORS / kind).rglob("*.json")) if (VECTORS / kind).is_dir() else []


def _b(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


def _check(case: Path, expect_error: bool, verify: object) -> None:
    try:
        verify()  # type: ignore[operator]
    except ProofError:
        assert expect_error, f"{case}: a good proof was refused"
        return
    assert not expect_error, f"{case}: a bad proof was accepted"


@pytest.mark.skipif(not _vectors("inclusion"), reason=f"no vectors at {VECTORS}")
@pytest.mark.parametrize("case", _vectors("inclusion"),
                         ids=lambda p: "/".join(p.parts[-2:]))
def test_inclusion_vectors(case: Path) -> None:
    v = json.loads(case.read_text())
    _check(case, v["wantErr"], lambda: merkle.verify_inclusion(
        v["leafIdx"], v["treeSize"], _b(v["leafHash"]), [_b(p) for p in v["proof"] or []],
        _b(v["root"])))


@pytest.mark.skipif(not _vectors("consistency"), reason=f"no vectors at {VECTORS}")
@pytest.mark.parametrize("case", _vectors("consistency"),
                         ids=lambda p: "/".join(p.parts[-2:]))
def test_consistency_vectors(case: Path) -> None:
    v = json.loads(case.read_text())
    _check(case, v["wantErr"], lambda: merkle.verify_consistency(
        v["size1"], v["size2"], _b(v["root1"]), _b(v["root2"]),
        [_b(p) for p in v["proof"] or []]))


def test_the_vectors_are_all_there_when_present() -> None:
    if not VECTORS.is_dir():
        pytest.skip(f"no vectors at {VECTORS}")
    assert len(_vectors("inclusion")) + len(_vectors("consistency")) == 196


LEAVES = [merkle.leaf_hash(f"event {i}".encode()) for i in range(70)]


def _reference_root(d: list[bytes]) -> bytes:
    """MTH as the RFC writes it, recursively, to check the iterative one."""
    if not d:
        return merkle.EMPTY_ROOT
    if len(d) == 1:
        return d[0]
    k = 1 << ((len(d) - 1).bit_length() - 1)
    return merkle.node_hash(_reference_root(d[:k]), _reference_root(d[k:]))


def test_known_heads() -> None:
    assert merkle.root([]).hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    # RFC 6962's test tree: the head of the first leaf, the empty string
    assert merkle.leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    for n in range(len(LEAVES) + 1):
        assert merkle.root(LEAVES[:n]) == _reference_root(LEAVES[:n])


def test_every_inclusion_proof_verifies_and_no_tampered_one_does() -> None:
    for n in range(1, len(LEAVES) + 1):
        head = merkle.root(LEAVES[:n])
        for i in range(n):
            proof = merkle.inclusion_proof(LEAVES[:n], i)
            merkle.verify_inclusion(i, n, LEAVES[i], proof, head)
            with pytest.raises(ProofError):
                merkle.verify_inclusion(i, n, merkle.leaf_hash(b"altered"), proof, head)
            if proof:
                bad = [*proof[:-1], bytes(32)]
                with pytest.raises(ProofError):
                    merkle.verify_inclusion(i, n, LEAVES[i], bad, head)
                with pytest.raises(ProofError):
                    merkle.verify_inclusion(i, n, LEAVES[i], proof[:-1], head)
            with pytest.raises(ProofError):
                merkle.verify_inclusion(i, n, LEAVES[i], [*proof, bytes(32)], head)


def test_every_consistency_proof_verifies_and_a_rewritten_log_does_not() -> None:
    for n in range(1, 40):
        head = merkle.root(LEAVES[:n])
        for m in range(1, n + 1):
            old = merkle.root(LEAVES[:m])
            proof = merkle.consistency_proof(LEAVES[:n], m)
            merkle.verify_consistency(m, n, old, head, proof)
            forked = merkle.root([*LEAVES[:m - 1], merkle.leaf_hash(b"rewritten")])
            with pytest.raises(ProofError):
                merkle.verify_consistency(m, n, forked, head, proof)
            if m < n:
                with pytest.raises(ProofError):  # a rolled-back log against a held head
                    merkle.verify_consistency(m, n, old, merkle.root(LEAVES[:n - 1]), proof)


def test_impossible_sizes_are_refused() -> None:
    head = merkle.root(LEAVES[:4])
    with pytest.raises(ProofError):
        merkle.inclusion_proof(LEAVES[:4], 4)
    with pytest.raises(ProofError):
        merkle.verify_inclusion(4, 4, LEAVES[0], [], head)
    with pytest.raises(ProofError):
        merkle.verify_consistency(0, 4, merkle.EMPTY_ROOT, head, [])
    with pytest.raises(ProofError):
        merkle.verify_consistency(5, 4, head, head, [])
    with pytest.raises(ProofError):
        merkle.verify_inclusion(0, 4, LEAVES[0][:31], [], head)


def test_proofs_from_stored_subtrees_are_the_rfc_proofs() -> None:
    """What the log serves (heads of stored perfect subtrees, grown leaf by leaf with
    `extend`) is exactly the RFC's PATH and PROOF, at every size up to 70."""
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(70)]
    stored: dict[merkle.Node, bytes] = {}
    for n in range(70):
        stored |= merkle.extend(n, stored, leaves[n:n + 1])
        size = n + 1
        edge = merkle.heads([(0, size)], stored)[0]
        assert edge == merkle.root(leaves[:size])
        for m in range(size):
            served = merkle.heads(merkle.inclusion_ranges(m, size), stored)
            assert served == merkle.inclusion_proof(leaves[:size], m)
            served = merkle.heads(merkle.consistency_ranges(m + 1, size), stored)
            assert served == merkle.consistency_proof(leaves[:size], m + 1)


def test_a_batch_extends_the_tree_as_single_leaves_do() -> None:
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(45)]
    one_by_one: dict[merkle.Node, bytes] = {}
    for n in range(45):
        one_by_one |= merkle.extend(n, one_by_one, leaves[n:n + 1])
    batched = merkle.extend(0, {}, leaves[:13])
    batched |= merkle.extend(13, {k: batched[k] for k in merkle.subtrees(0, 13)}, leaves[13:])
    assert batched == one_by_one


def test_tree_head_data_is_tls_encoded() -> None:
    data = merkle.tree_head_data(1_700_000_000_000, 5, b"\x11" * 32)
    assert data == (bytes.fromhex("0000018bcfe56800") + bytes.fromhex("0000000000000005")
                    + b"\x20" + b"\x11" * 32 + b"\x00\x00")
