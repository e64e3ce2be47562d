"""Audit bundles: the file `docflow audit export` writes and `docflow audit verify` checks.

A zip of plain files, readable without docflow:

- ``manifest.json``: what was exported (a document and its chain's length, a unit, or a
  contiguous range of leaves), when, and the tree size the proofs are against;
- ``events.jsonl``: one record per line, in the log's order (the fields `record_hash` covers,
  plus ``id``, ``hash`` and ``leaf``; events outside the asker's units carry only their hash
  and chain link, ``"redacted": true``; a leaf whose event is gone, only ``leaf_hash``);
- ``tree-heads.json``: the signed head the proofs lead to, and earlier heads;
- ``proofs.json``: an inclusion proof per leaf, and a consistency proof from each earlier
  head's size;
- ``log-key.pem``: the log's public key, which proves nothing by itself: the verifier trusts
  only a key or a fingerprint it is given.

Verification needs nothing but this file and that key: no service, no database.
"""

from __future__ import annotations

import json
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from docflow.domain import merkle
from docflow.domain.audit import TreeHead, record_hash
from docflow.services.audit import (
    BUNDLE_FORMAT,
    EVENTS,
    HEADS,
    LOG_KEY,
    MANIFEST,
    PROOFS,
    Bundle,
)
from docflow.signing.logkey import LogKeyError, check_stamp, key_id_of, verify

CODES = ("ALTERED_EVENT", "MISSING_EVENT", "REORDERED_EVENTS", "FORKED_LOG",
         "ROLLED_BACK_LOG", "BAD_STH_SIGNATURE", "UNTRUSTED_KEY", "MISSING_PROOF",
         "BAD_TIMESTAMP", "UNTRUSTED_TSA")


class BundleError(ValueError):
    """The file is not an audit bundle (or not one this verifier reads)."""


def write(bundle: Bundle, target: Path | BinaryIO) -> None:
    """Write the bundle to `target` (a zip file)."""
    bundle.write(target)


@dataclass(frozen=True)
class Problem:
    code: str
    leaf: int | None
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "leaf": self.leaf, "detail": self.detail}


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    events: int = 0
    tree_size: int = 0
    key_fingerprint: str = ""
    trusted_by: str = ""
    timestamps: list[dict[str, Any]] = field(default_factory=list)
    """Per timestamped tree head: its size, the stated time, the TSA, whether trusted (None:
    no TSA anchor was given)."""

    @property
    def clean(self) -> bool:
        return not self.problems

    def add(self, code: str, leaf: int | None, detail: str) -> None:
        self.problems.append(Problem(code, leaf, detail))

    def as_json(self) -> dict[str, Any]:
        return {"clean": self.clean, "events": self.events, "tree_size": self.tree_size,
                "key_fingerprint": self.key_fingerprint, "trusted_by": self.trusted_by,
                "timestamps": self.timestamps,
                "problems": [p.as_json() for p in self.problems]}


@dataclass
class _Read:
    manifest: dict[str, Any]
    records: list[dict[str, Any]]
    head: TreeHead
    earlier: list[TreeHead]
    inclusion: dict[int, list[bytes]]
    consistency: dict[int, list[bytes]]
    key_pem: bytes


def _read(path: Path) -> _Read:
    try:
        with zipfile.ZipFile(path) as z:
            manifest = json.loads(z.read(MANIFEST))
            lines = z.read(EVENTS).decode().splitlines()
            heads = json.loads(z.read(HEADS))
            proofs = json.loads(z.read(PROOFS))
            key_pem = z.read(LOG_KEY)
        if manifest.get("format") != BUNDLE_FORMAT:
            raise BundleError(f"not a {BUNDLE_FORMAT} bundle")
        return _Read(
            manifest=manifest, records=[json.loads(x) for x in lines if x.strip()],
            head=TreeHead.from_json(heads["head"]),
            earlier=[TreeHead.from_json(h) for h in heads.get("earlier", [])],
            inclusion={int(k): [bytes.fromhex(n) for n in v]
                       for k, v in proofs["inclusion"].items()},
            consistency={int(k): [bytes.fromhex(n) for n in v]
                         for k, v in proofs.get("consistency", {}).items()},
            key_pem=key_pem)
    except BundleError:
        raise
    except (OSError, zipfile.BadZipFile, KeyError, ValueError, TypeError) as exc:
        raise BundleError(f"cannot read {path} as an audit bundle: {exc}") from exc


def _fingerprint(pem: bytes) -> str:
    return key_id_of(pem).hex()


def verify_bundle(path: Path, *, key_pem: bytes | None = None,
                  fingerprints: Sequence[str] = (),
                  known: Iterable[TreeHead] = (),
                  tsa_anchors: Sequence[bytes] = ()) -> Report:
    """Check a bundle against a trusted key (`key_pem`, or a pinned SHA-256 `fingerprints`
    of the key), and its heads' timestamps against `tsa_anchors` (DER CA certificates; with
    none, a timestamp is checked as made by the certificate it carries, its trust left
    open). Raises BundleError if it cannot be read at all."""
    b = _read(path)
    report = Report(events=sum(1 for r in b.records if "leaf_hash" not in r),
                    tree_size=b.head.tree_size)
    try:
        bundled = _fingerprint(b.key_pem)
    except (ValueError, TypeError) as exc:
        raise BundleError(f"the bundle's log key does not parse: {exc}") from exc
    trusted_pem = b.key_pem
    if key_pem is not None:
        trusted_pem = key_pem
        report.trusted_by = "--key"
        if _fingerprint(key_pem) != bundled:
            report.add("UNTRUSTED_KEY", None, "the bundle's log key is not the key given")
    elif fingerprints:
        report.trusted_by = "pinned fingerprint"
        wanted = {f.lower().replace(":", "").removeprefix("sha256") for f in fingerprints}
        if bundled not in wanted:
            report.add("UNTRUSTED_KEY", None,
                       f"the bundle's log key {bundled} is not a pinned fingerprint")
    else:
        report.add("UNTRUSTED_KEY", None,
                   "no --key or pinned fingerprint given: the key inside the bundle proves "
                   "nothing by itself")
    report.key_fingerprint = _fingerprint(trusted_pem)

    def signed(head: TreeHead) -> bool:
        return head_signed(head, trusted_pem)

    if not signed(b.head):
        report.add("BAD_STH_SIGNATURE", None,
                   f"the tree head of size {b.head.tree_size} is not signed by the log key")
    for head in [b.head, *b.earlier]:
        if head.tsa_token is not None:
            _check_stamp(head, tsa_anchors, report)
    for head in b.earlier:
        if not signed(head):
            report.add("BAD_STH_SIGNATURE", None,
                       f"an earlier tree head of size {head.tree_size} is not signed by the "
                       "log key")
    _check_events(b, report)
    _check_chains(b, report)
    _check_range(b, report)
    for head in b.earlier:
        _check_known(b, head, report, held=False)
    for head in known:
        if not signed(head):
            report.add("BAD_STH_SIGNATURE", None,
                       f"the held tree head of size {head.tree_size} is not signed by the "
                       "log key")
            continue
        _check_known(b, head, report, held=True)
    return report


def _check_stamp(head: TreeHead, anchors: Sequence[bytes], report: Report) -> None:
    """A head's RFC 3161 token: over its signature, signed by the TSA it names, and (with
    anchors) by a TSA the verifier trusts."""
    assert head.tsa_token is not None
    stamp = check_stamp(head.tsa_token, head.signature, anchors)
    where = f"the timestamp token of the tree head of size {head.tree_size}"
    if not stamp.over_signature:
        report.add("BAD_TIMESTAMP", None, f"{where} is not over its signature")
    elif not stamp.intact:
        report.add("BAD_TIMESTAMP", None,
                   f"{where} does not carry a valid signature of the TSA it names")
    elif stamp.trusted is False:
        report.add("UNTRUSTED_TSA", None,
                   f"{where} is by {stamp.tsa!r}, whose certificate does not lead to a "
                   "trusted TSA certificate authority (--tsa-trust)")
    if stamp.over_signature and stamp.intact:
        report.timestamps.append({
            "tree_size": head.tree_size, "time": stamp.time.isoformat() if stamp.time else None,
            "tsa": stamp.tsa, "trusted": stamp.trusted})


def head_signed(head: TreeHead, key_pem: bytes) -> bool:
    """Whether the tree head is signed by this log key (and names it)."""
    data = merkle.tree_head_data(head.timestamp, head.tree_size, head.root)
    try:
        return head.key_id == key_id_of(key_pem) and verify(key_pem, data, head.signature)
    except LogKeyError:
        return False


def inclusion_fault(record: dict[str, Any], leaf: int, proof: Sequence[bytes],
                    head: TreeHead) -> str | None:
    """Why the record is not the leaf `leaf` of the tree `head` signs (None: it is)."""
    digest = _content_hash(record)
    if digest is None:
        return "the record is malformed"
    try:
        merkle.verify_inclusion(leaf, head.tree_size, merkle.leaf_hash(digest), proof,
                                head.root)
    except merkle.ProofError as exc:
        return str(exc)
    return None


def _included(b: _Read, leaf: int, digest: bytes) -> bool:
    proof = b.inclusion.get(leaf)
    if proof is None:
        return False
    try:
        merkle.verify_inclusion(leaf, b.head.tree_size, merkle.leaf_hash(digest), proof,
                                b.head.root)
    except merkle.ProofError:
        return False
    return True


def _content_hash(record: dict[str, Any]) -> bytes | None:
    """What the record's content hashes to (its stated hash when redacted); None when the
    record is malformed."""
    try:
        if record.get("redacted"):
            return bytes.fromhex(record["hash"])
        return record_hash(record)
    except (KeyError, ValueError, TypeError):
        return None


def _check_events(b: _Read, report: Report) -> None:
    failed: list[tuple[int, bytes | None]] = []
    for r in b.records:
        leaf = r.get("leaf")
        if not isinstance(leaf, int):
            report.add("ALTERED_EVENT", None, "a record without a leaf index")
            continue
        if "leaf_hash" in r:  # the tree holds a leaf whose event is gone
            try:
                gone = bytes.fromhex(r["leaf_hash"])
                merkle.verify_inclusion(leaf, b.head.tree_size, gone, b.inclusion[leaf],
                                        b.head.root)
            except (KeyError, ValueError, merkle.ProofError):
                report.add("ALTERED_EVENT", leaf, "the log's tree does not hold this leaf")
            else:
                report.add("MISSING_EVENT", leaf, "the log holds this leaf; its event is gone")
            continue
        if leaf not in b.inclusion:
            report.add("MISSING_PROOF", leaf, "the log gave no inclusion proof for this leaf "
                       "(its tree lacks a node the proof needs)")
            continue
        digest = _content_hash(r)
        if digest is None or not _included(b, leaf, digest):
            failed.append((leaf, digest))
    placed = {leaf for leaf, _ in failed}
    for leaf, digest in failed:
        # Content that proves at another failing leaf was moved, not changed.
        elsewhere = [other for other in placed
                     if other != leaf and digest is not None and _included(b, other, digest)]
        if elsewhere:
            report.add("REORDERED_EVENTS", leaf,
                       f"this event is the log's leaf {elsewhere[0]}, not {leaf}")
        else:
            report.add("ALTERED_EVENT", leaf,
                       "the event's content is not what the log holds at this leaf")


def _check_chains(b: _Read, report: Report) -> None:
    altered = {p.leaf for p in report.problems if p.code in ("ALTERED_EVENT",
                                                              "REORDERED_EVENTS",
                                                              "MISSING_PROOF")}
    chains: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in b.records:
        if "chain" in r and isinstance(r.get("seq"), int):
            chains[r["chain"]].append(r)
    document = b.manifest.get("document") or {}
    for name, records in chains.items():
        records.sort(key=lambda r: r["seq"])
        whole = name == document.get("chain")
        previous: dict[str, Any] | None = None
        for r in records:
            expected = 1 if previous is None else previous["seq"] + 1
            # Only a whole chain (a document's export) must have every link; elsewhere the
            # range's own contiguity shows what is missing.
            if r["seq"] > expected and whole:
                report.add("MISSING_EVENT", r["leaf"],
                           f"{name}: events {expected}..{r['seq'] - 1} of the chain are "
                           "missing before this one")
            elif previous is not None and r["seq"] == expected:
                digest = _content_hash(previous)
                if (previous["leaf"] not in altered and r["leaf"] not in altered
                        and digest is not None and r.get("prev") != digest.hex()):
                    report.add("MISSING_EVENT", r["leaf"],
                               f"{name}: the event before this one is not the one the "
                               "chain links to")
            if previous is not None and r["leaf"] < previous["leaf"]:
                report.add("REORDERED_EVENTS", r["leaf"],
                           f"{name}: event {r['seq']} of the chain comes before event "
                           f"{previous['seq']} in the log")
            previous = r
        length = document.get("chain_length")
        if whole and isinstance(length, int) and (not records or records[-1]["seq"] < length):
            last = records[-1]["seq"] if records else 0
            report.add("MISSING_EVENT", records[-1]["leaf"] if records else None,
                       f"{name}: the chain has {length} events, the export ends at {last}")


def _check_range(b: _Read, report: Report) -> None:
    span = b.manifest.get("leaves")
    if not span:
        return
    lo, hi = span
    have = {r.get("leaf") for r in b.records}
    for leaf in range(lo, hi):
        if leaf not in have:
            report.add("MISSING_EVENT", leaf, "a leaf of the exported range is not there")


def _check_known(b: _Read, known: TreeHead, report: Report, *, held: bool) -> None:
    """A head someone holds (or an earlier head in the bundle) against the bundle's head."""
    what = "the held" if held else "an earlier"
    head = b.head
    if known.tree_size > head.tree_size:
        report.add("ROLLED_BACK_LOG", None,
                   f"{what} tree head has {known.tree_size} leaves; the log now shows "
                   f"{head.tree_size}")
        return
    if known.tree_size == head.tree_size:
        if known.root != head.root:
            report.add("FORKED_LOG", None,
                       f"two tree heads of {known.tree_size} leaves with different roots")
        return
    proof = b.consistency.get(known.tree_size)
    if proof is None:
        report.add("MISSING_PROOF", None,
                   f"no consistency proof from {what} head of {known.tree_size} leaves: "
                   "export again naming it (--known-sth)")
        return
    try:
        merkle.verify_consistency(known.tree_size, head.tree_size, known.root, head.root, proof)
    except merkle.ProofError as exc:
        report.add("FORKED_LOG", None,
                   f"the log of {head.tree_size} leaves does not extend {what} head of "
                   f"{known.tree_size}: {exc}")
