"""The audit trail as a log auditors can check without trusting us (issue 5).

Writers only append events, each linked to its object's chain (`SqlAudit.append`); they never
wait on one log-wide lock. The sequencer (a job every few seconds) gives committed events
consecutive leaf indexes and extends the RFC 9162 Merkle tree; tree heads are signed with the
log's own key on a schedule and on demand. Auditors query within the units they audit, and each
query is itself an event; exports carry the events, heads and proofs that `docflow audit verify`
checks with no access to us.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import takewhile
from pathlib import Path
from typing import Any, BinaryIO

from docflow.domain import merkle
from docflow.domain.audit import (
    Action,
    AuditEvent,
    AuditFilter,
    Origin,
    TreeHead,
    chain_for,
)
from docflow.domain.errors import Forbidden, Invalid, NotFound
from docflow.domain.org import Actor, Role
from docflow.services.paging import page_size
from docflow.services.ports import Clock, Timestamper, TreeHeadSigner, UnitOfWorkFactory

SEQUENCE_JOB = "sequence_audit"
TREE_HEAD_JOB = "issue_tree_head"
HEAD_AT_LEAST_EVERY = timedelta(hours=1)
"""A head is signed whenever the tree grew, and at least this often even if it did not, so
that a held head is never older than this."""
RECENT_HEADS = 1000
"""An export proves its head consistent with this many earlier heads (distinct sizes), so an
auditor holding any of them can check for a fork or rollback offline."""


@dataclass(frozen=True)
class Selection:
    """What an export covers: one document, a unit's subtree, or a time range."""

    document_id: str | None = None
    unit_code: str | None = None
    since: Any = None
    until: Any = None

    def check(self) -> None:
        chosen = [self.document_id is not None, self.unit_code is not None,
                  self.since is not None or self.until is not None]
        if sum(chosen) != 1:
            raise Invalid("choose one of: a document, a unit, or a time range")
        if (self.since is None) != (self.until is None):
            raise Invalid("a time range needs both its start and its end")


BUNDLE_FORMAT = "docflow-audit-bundle/1"
MANIFEST, EVENTS, HEADS, PROOFS, LOG_KEY = (
    "manifest.json", "events.jsonl", "tree-heads.json", "proofs.json", "log-key.pem")
"""The files of a bundle (`Bundle.write`; read back by `docflow.auditbundle`)."""


@dataclass
class Bundle:
    """An export, before it is written to a file: see `docflow.auditbundle` for the format."""

    manifest: dict[str, Any]
    records: list[dict[str, Any]]
    head: TreeHead
    earlier: list[TreeHead]
    inclusion: dict[int, list[bytes]]
    consistency: dict[int, list[bytes]] = field(default_factory=dict)
    """Earlier head's size -> the proof that `head` extends it."""
    public_key_pem: bytes = b""

    def write(self, target: Path | BinaryIO) -> None:
        """The bundle as a zip file (the format `docflow.auditbundle` reads)."""
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as out:
            out.writestr(MANIFEST, json.dumps(self.manifest, indent=2,
                                                     ensure_ascii=False))
            out.writestr(EVENTS, "".join(
                json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n"
                for r in self.records))
            out.writestr(HEADS, json.dumps(
                {"head": self.head.as_json(), "earlier": [h.as_json() for h in self.earlier]},
                indent=2))
            out.writestr(PROOFS, json.dumps({
                "inclusion": {str(k): [n.hex() for n in v] for k, v in self.inclusion.items()},
                "consistency": {str(k): [n.hex() for n in v]
                                for k, v in self.consistency.items()}}))
            out.writestr(LOG_KEY, self.public_key_pem)


def auditor_scope(actor: Actor) -> tuple[str, ...]:
    """The unit paths the actor audits; Forbidden when none."""
    paths = tuple(sorted(set(actor.audited_paths())))
    if not paths:
        raise Forbidden("only auditors read the audit trail")
    return paths


def _redacted(record: dict[str, Any]) -> dict[str, Any]:
    """An event outside the asker's units: enough to check the chain and the proof (its hash
    is in the log), nothing of what happened."""
    return {k: record[k] for k in ("leaf", "chain", "seq", "prev", "hash")} | {
        "redacted": True}


def _after(record: dict[str, Any], bound: Any, *, before: bool = False) -> bool:
    """Whether a present record lies beyond the period's bound (a gone one never does)."""
    if record.get("at") is None:
        return False
    at = datetime.fromisoformat(record["at"].replace("Z", "+00:00"))
    return bool(at < bound if before else at >= bound)


def _paths(uow: Any, records: Iterable[dict[str, Any]]) -> dict[str, str]:
    codes = {r["unit_code"] for r in records if r.get("unit_code")}
    return {code: unit.path for code, unit in uow.units.get_many(codes).items()}


def _in_scope(record: dict[str, Any], scope: tuple[str, ...] | None,
              unit_paths: dict[str, str]) -> bool:
    if scope is None:
        return True
    path = unit_paths.get(record.get("unit_code") or "")
    return path is not None and any(path.startswith(p) for p in scope)


class AuditService:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, signer: TreeHeadSigner,
                 timestamper: Timestamper | None = None, *, batch: int = 20_000) -> None:
        self._uow = uow
        self._clock = clock
        self._signer = signer
        self._timestamper = timestamper
        self._batch = batch

    @property
    def public_key_pem(self) -> bytes:
        return self._signer.public_pem()

    @property
    def log_id(self) -> bytes:
        """This log's id: its key's SHA-256 fingerprint."""
        return self._signer.key_id

    # --- the log ---------------------------------------------------------------------------

    def sequence(self) -> int:
        """Make every committed event a leaf, oldest first; how many were added."""
        added = 0
        while True:
            with self._uow() as uow:
                size, _ = uow.audit_tree.lock()
                pending = uow.audit_tree.pending(self._batch)
                if not pending:
                    return added
                edge = uow.audit_tree.nodes(merkle.subtrees(0, size))
                leaves = [merkle.leaf_hash(digest) for _, digest in pending]
                new = merkle.extend(size, edge, leaves)
                grown = size + len(leaves)
                known = edge | new
                root = merkle.combine([known[k] for k in merkle.subtrees(0, grown)])
                uow.audit_tree.extend(size, [event_id for event_id, _ in pending], new, root)
                uow.commit()
            added += len(pending)
            if len(pending) < self._batch:
                return added

    def issue_tree_head(self, *, force: bool = False) -> TreeHead:
        """Sign the tree as it is now, unless the latest head has the same size and is
        recent (`force`: sign anyway). Sequences first, so the head covers what is
        committed."""
        self.sequence()
        now = self._clock.now()
        with self._uow() as uow:
            size, root = uow.audit_tree.size()
            latest = uow.audit_tree.latest_head()
        fresh = latest is not None and now.timestamp() * 1000 - latest.timestamp < (
            HEAD_AT_LEAST_EVERY.total_seconds() * 1000)
        if latest is not None and latest.tree_size == size and fresh and not force:
            return latest
        stamp = int(now.timestamp() * 1000)
        if latest is not None and stamp <= latest.timestamp:
            stamp = latest.timestamp + 1  # heads are ordered by time, strictly
        signature = self._signer.sign(merkle.tree_head_data(stamp, size, root))
        # The TSA is asked outside any transaction: a slow one holds nothing up.
        token = self._timestamper.stamp(signature) if self._timestamper else None
        head = TreeHead(tree_size=size, timestamp=stamp, root=root,
                        key_id=self._signer.key_id, signature=signature, tsa_token=token)
        with self._uow() as uow:
            uow.audit_tree.add_head(head)
            uow.commit()
        return head

    def latest_head(self) -> TreeHead:
        with self._uow() as uow:
            head = uow.audit_tree.latest_head()
        return head if head is not None else self.issue_tree_head(force=True)

    def heads(self, since_size: int = 0, limit: int = 100) -> list[TreeHead]:
        with self._uow() as uow:
            return uow.audit_tree.heads(since_size=since_size, limit=limit)

    def _head_covering(self, leaf: int) -> TreeHead:
        head = self.latest_head()
        return head if head.tree_size > leaf else self.issue_tree_head(force=True)

    # --- proofs ----------------------------------------------------------------------------

    def inclusion(self, actor: Actor, event_id: int,
                  tree_size: int | None = None) -> tuple[int, int, list[bytes], TreeHead | None]:
        """(leaf, tree size, audit path, the head of that size if one was signed) for an event
        the auditor may see; the latest head's size by default."""
        scope = auditor_scope(actor)
        with self._uow() as uow:
            seen = uow.audit.records(AuditFilter(scope=scope), after=event_id - 1, limit=1)
        if not seen or seen[0]["id"] != event_id:
            raise NotFound("no such event in your units")
        with self._uow() as uow:
            leaf = uow.audit_tree.leaf_of(event_id)
        if leaf is None:  # committed since the sequencer last ran: run it now
            self.sequence()
            with self._uow() as uow:
                leaf = uow.audit_tree.leaf_of(event_id)
        if leaf is None:
            raise NotFound("the event is not in the log yet")
        head: TreeHead | None
        if tree_size is None:
            head = self._head_covering(leaf)
            tree_size = head.tree_size
        else:
            head = self._head_of_size(tree_size)
        return leaf, tree_size, self.inclusion_path(leaf, tree_size), head

    def size(self) -> tuple[int, bytes]:
        """The tree's size and root now (signed or not)."""
        with self._uow() as uow:
            return uow.audit_tree.size()

    def inclusion_path(self, leaf: int, tree_size: int) -> list[bytes]:
        """The audit path of a leaf in the tree of `tree_size` leaves (no access check: for
        the operator, and for `inclusion`, which checks)."""
        if not 0 <= leaf < tree_size:
            raise Invalid(f"leaf {leaf} has no proof in a tree of {tree_size}")
        with self._uow() as uow:
            try:
                return self._proof(uow, merkle.inclusion_ranges(leaf, tree_size))
            except KeyError:  # a node the proof needs is not there: the log is smaller
                current, _ = uow.audit_tree.size()
                raise Invalid(f"leaf {leaf} has no proof in a tree of {tree_size} "
                              f"(the log has {current})") from None

    def consistency(self, first: int, second: int) -> list[bytes]:
        """That the tree of `second` leaves extends the tree of `first` (RFC 9162 §2.1.4)."""
        with self._uow() as uow:
            current, _ = uow.audit_tree.size()
            if not 0 < first <= second <= current:
                raise Invalid(f"no consistency proof from {first} to {second} "
                              f"(the log has {current})")
            return self._proof(uow, merkle.consistency_ranges(first, second))

    def _head_of_size(self, size: int) -> TreeHead | None:
        with self._uow() as uow:
            found = uow.audit_tree.heads(since_size=size, limit=1)
        return found[0] if found and found[0].tree_size == size else None

    @staticmethod
    def _proof(uow: Any, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        keys = [k for lo, hi in ranges for k in merkle.subtrees(lo, hi)]
        return merkle.heads(ranges, uow.audit_tree.nodes(keys))

    @staticmethod
    def _proofs(uow: Any, wanted: dict[int, list[tuple[int, int]]]) -> dict[int, list[bytes]]:
        """The proofs the stored tree can give; one it cannot (a node is gone: someone
        removed rows) is left out, and the verifier reports what it then cannot prove."""
        keys = {k for ranges in wanted.values() for lo, hi in ranges
                for k in merkle.subtrees(lo, hi)}
        stored = uow.audit_tree.nodes(keys)
        proofs = {}
        for name, ranges in wanted.items():
            try:
                proofs[name] = merkle.heads(ranges, stored)
            except KeyError:
                continue
        return proofs

    # --- what auditors read ----------------------------------------------------------------

    def events(self, actor: Actor, query: AuditFilter, origin: Origin, *,
               after: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The trail within the auditor's units, oldest first, after the event id `after`;
        the query itself is recorded."""
        return self._events(actor, query, origin, after=after, limit=page_size(limit))

    def all_events(self, actor: Actor, query: AuditFilter, origin: Origin, *,
                   at_most: int = 1_000_000) -> list[dict[str, Any]]:
        """Every event the query matches (for a CSV file), recorded as one query."""
        return self._events(actor, query, origin, after=None, limit=at_most)

    def _events(self, actor: Actor, query: AuditFilter, origin: Origin, *, after: int | None,
                limit: int) -> list[dict[str, Any]]:
        scope = auditor_scope(actor)
        if query.under is not None and not any(query.under.startswith(p) for p in scope):
            raise NotFound("no such unit among those you audit")
        scoped = AuditFilter(scope=scope, document_id=query.document_id,
                             actor_id=query.actor_id, under=query.under,
                             actions=query.actions, since=query.since, until=query.until)
        with self._uow() as uow:
            found: list[dict[str, Any]] = []
            cursor = after
            while True:
                want = min(10_000, limit - len(found))
                page = uow.audit.records(scoped, after=cursor, limit=want)
                found += page
                if len(page) < want or len(found) >= limit:
                    break
                cursor = page[-1]["id"]
            self._record_query(uow, actor, Action.AUDIT_QUERY, query, origin,
                               {"after": after, "returned": len(found)})
            uow.commit()
        return found

    def unit_path(self, actor: Actor, unit_code: str) -> str:
        """The path of a unit the auditor audits (NotFound otherwise), to filter by."""
        scope = auditor_scope(actor)
        with self._uow() as uow:
            unit = uow.units.get(unit_code)
        if unit is None or not any(unit.path.startswith(p) for p in scope):
            raise NotFound.fmt("no unit '%(unit)s' among those you audit", {"unit": unit_code})
        return unit.path

    def _record_query(self, uow: Any, actor: Actor, action: Action, query: AuditFilter,
                      origin: Origin, extra: dict[str, Any]) -> None:
        asked = {k: v for k, v in {
            "document": query.document_id, "actor": query.actor_id, "under": query.under,
            "actions": list(query.actions) or None,
            "since": query.since.isoformat() if query.since else None,
            "until": query.until.isoformat() if query.until else None}.items() if v}
        uow.audit.append(AuditEvent(
            at=self._clock.now(), action=action, object_type="user", object_id=actor.id,
            actor_id=actor.id, unit_code=actor.primary_unit(), document_id=None, origin=origin,
            details=asked | extra, authority=Role.AUDITOR.value))

    # --- exports ---------------------------------------------------------------------------

    def export(self, selection: Selection, *, actor: Actor | None = None,
               origin: Origin | None = None, known: Iterable[TreeHead] = ()) -> Bundle:
        """Everything an offline check needs for the selection. `actor`: an auditor (their
        units only; events of others in a document's chain are redacted to their hashes);
        None: the operator at the command line, everything."""
        selection.check()
        scope = auditor_scope(actor) if actor is not None else None
        head = self.issue_tree_head()
        manifest: dict[str, Any] = {"format": BUNDLE_FORMAT,
                                    "exported_at": self._clock.now().isoformat(),
                                    "tree_size": head.tree_size}
        with self._uow() as uow:
            under = None
            if selection.document_id is not None:
                records, manifest["document"] = self._document(uow, selection.document_id,
                                                               scope)
            elif selection.unit_code is not None:
                unit = uow.units.get(selection.unit_code)
                if unit is None or (scope is not None and
                                    not any(unit.path.startswith(p) for p in scope)):
                    raise NotFound.fmt("no unit '%(unit)s' among those you audit",
                                       {"unit": selection.unit_code})
                under = unit.path
                records = self._all(uow, AuditFilter(scope=scope, under=under))
                manifest["unit"] = selection.unit_code
            else:
                records, manifest["leaves"] = self._range(uow, selection, scope)
            records = [r for r in records if r.get("leaf") is not None
                       and r["leaf"] < head.tree_size]
            inclusion = self._proofs(uow, {
                r["leaf"]: merkle.inclusion_ranges(r["leaf"], head.tree_size)
                for r in records})
            earlier = [h for h in uow.audit_tree.recent_heads(head.tree_size, RECENT_HEADS)
                       if h.tree_size > 0]
            # Our recent heads, and every head the asker holds: each gets its proof.
            sizes = {h.tree_size for h in [*earlier, *known] if 0 < h.tree_size < head.tree_size}
            consistency = self._proofs(uow, {
                s: merkle.consistency_ranges(s, head.tree_size) for s in sizes})
            if actor is not None:
                self._record_query(uow, actor, Action.AUDIT_EXPORT, AuditFilter(
                    scope=scope, document_id=selection.document_id, since=selection.since,
                    until=selection.until, under=under),
                    origin or Origin(), {"events": len(records)})
                uow.commit()
        manifest["events"] = len(records)
        return Bundle(manifest=manifest, records=records, head=head,
                      earlier=earlier,
                      inclusion=inclusion, consistency=consistency,
                      public_key_pem=self._signer.public_pem())

    def _all(self, uow: Any, query: AuditFilter) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        after = None
        while True:
            page = uow.audit.records(query, after=after, limit=10_000, with_leaves=True)
            found += page
            if len(page) < 10_000:
                return found
            after = page[-1]["id"]

    def _document(self, uow: Any, document_id: str, scope: tuple[str, ...] | None,
                  ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        chain = chain_for("document", document_id, document_id)
        records = uow.audit.chain(chain)
        unit_paths = _paths(uow, records)
        if scope is not None and not any(_in_scope(r, scope, unit_paths) for r in records):
            raise NotFound("no such document in your units")
        seq, last = uow.audit.chain_head(chain)
        shown = [r if _in_scope(r, scope, unit_paths) else _redacted(r) for r in records]
        return shown, {"id": document_id, "chain": chain, "chain_length": seq,
                       "chain_last": last.hex() if last else None}

    def _range(self, uow: Any, selection: Selection, scope: tuple[str, ...] | None,
               ) -> tuple[list[dict[str, Any]], list[int]]:
        """Every leaf from the first to the last event of the period: a leaf whose event is
        gone shows as missing instead of silently narrowing the range."""
        timed = self._all(uow, AuditFilter(scope=None, since=selection.since,
                                           until=selection.until))
        leaves = [r["leaf"] for r in timed if r["leaf"] is not None]
        if not leaves:
            return [], []
        lo, hi = min(leaves), max(leaves) + 1
        # Widen the range over neighbouring leaves whose events are gone (or still inside
        # the period): a deleted first or last event must show as missing, not shrink it.
        size, _ = uow.audit_tree.size()
        while lo > 0:
            before = uow.audit.leaf_range(max(0, lo - 1000), lo)
            inside = list(reversed(list(takewhile(
                lambda r: not _after(r, selection.since, before=True), reversed(before)))))
            lo -= len(inside)
            if len(inside) < len(before) or not before:
                break
        while hi < size:
            after = uow.audit.leaf_range(hi, hi + 1000)
            inside = list(takewhile(lambda r: not _after(r, selection.until), after))
            hi += len(inside)
            if len(inside) < len(after) or not after:
                break
        records = []
        for start in range(lo, hi, 10_000):
            page = uow.audit.leaf_range(start, min(hi, start + 10_000))
            unit_paths = _paths(uow, page)
            for r in page:
                if r.get("hash") is None or _in_scope(r, scope, unit_paths):
                    records.append(r)
                else:
                    records.append(_redacted(r))
        return records, [lo, hi]
