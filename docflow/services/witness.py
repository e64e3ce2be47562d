"""The hierarchy witnesses itself (issue 5): a rollback or fork of a log shows only against a
tree head someone else already holds, so each unit's docflow hands its signed heads to its
parent unit's docflow, which checks every one against the last it holds and keeps them all,
the contradicting ones as evidence. Auditors can take any witnessed head as one to verify by.
"""

from __future__ import annotations

from collections.abc import Sequence

from docflow.domain import merkle
from docflow.domain.audit import Action, AuditEvent, Origin, TreeHead, Verdict, judge
from docflow.domain.errors import Conflict, Invalid, NotFound
from docflow.services.audit import AuditService
from docflow.services.ports import (
    Clock,
    TreeHeadVerifier,
    UnitOfWorkFactory,
    WitnessClient,
    Witnessed,
)

WITNESS_JOB = "send_to_witness"


class WitnessService:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, verifier: TreeHeadVerifier,
                 audit: AuditService, client: WitnessClient | None = None) -> None:
        self._uow = uow
        self._clock = clock
        self._verifier = verifier
        self._audit = audit
        self._client = client

    @property
    def sends(self) -> bool:
        """True when a parent witness is configured (DOCFLOW_AUDIT_WITNESS_URL)."""
        return self._client is not None

    # --- the parent's side -----------------------------------------------------------------

    def add_log(self, unit_code: str, public_pem: bytes, origin: Origin) -> bytes:
        """Witness the log of a child unit's docflow, known by its public key; its id."""
        try:
            log_id = self._verifier.key_id(public_pem)
        except ValueError as exc:
            raise Invalid(f"not a public key: {exc}") from exc
        now = self._clock.now()
        with self._uow() as uow:
            if uow.units.get(unit_code) is None:
                raise NotFound(f"no unit {unit_code}")
            if not uow.witness.add_log(log_id, unit_code, public_pem, now):
                raise Conflict(f"the log {log_id.hex()} is witnessed already")
            uow.audit.append(AuditEvent(
                at=now, action=Action.AUDIT_WITNESS_ADD, object_type="log",
                object_id=log_id.hex(), actor_id=None, unit_code=unit_code, document_id=None,
                origin=origin, details={"unit": unit_code}))
            uow.commit()
        return log_id

    def receive(self, head: TreeHead, proof: Sequence[bytes], origin: Origin) -> Verdict:
        """Check a child log's head (its signature, then that it extends the head held) and
        keep it. A head that contradicts is kept as evidence and refused (Conflict)."""
        now = self._clock.now()
        with self._uow() as uow:
            found = uow.witness.log(head.key_id, for_update=True)  # one receipt at a time
            if found is None:
                raise NotFound(f"no witnessed log {head.key_id.hex()}")
            unit_code, public_pem = found
            data = merkle.tree_head_data(head.timestamp, head.tree_size, head.root)
            if not self._verifier.verify(public_pem, data, head.signature):
                raise Invalid("the tree head is not signed by the log's key")
            held = uow.witness.latest(head.key_id)
            verdict = judge(held, head, proof)
            uow.witness.add(head.key_id, head, verdict, now)
            uow.audit.append(AuditEvent(
                at=now, action=Action.AUDIT_WITNESS, object_type="log",
                object_id=head.key_id.hex(), actor_id=None, unit_code=unit_code,
                document_id=None, origin=origin, details={
                    "tree_size": head.tree_size, "root": head.root.hex(),
                    "verdict": verdict.value,
                    "held_size": held.tree_size if held else None}))
            uow.commit()
        if verdict is not Verdict.CONSISTENT:
            assert held is not None
            raise Conflict(f"the log {head.key_id.hex()} {verdict.value.replace('_', ' ')}: "
                           f"a head of {head.tree_size} leaves against the {held.tree_size} "
                           "held; both are kept")
        return verdict

    def latest(self, log_id: bytes) -> TreeHead:
        with self._uow() as uow:
            head = uow.witness.latest(log_id)
        if head is None:
            raise NotFound(f"no head of the log {log_id.hex()} is held")
        return head

    def heads(self, log_id: bytes, limit: int = 100) -> list[Witnessed]:
        with self._uow() as uow:
            if uow.witness.log(log_id) is None:
                raise NotFound(f"no witnessed log {log_id.hex()}")
            return uow.witness.heads(log_id, limit)

    # --- the child's side ------------------------------------------------------------------

    def send(self) -> Verdict | None:
        """Hand the parent's witness our newest head, with the proof that it extends the one
        the witness holds (None: no witness configured)."""
        if self._client is None:
            return None
        head = self._audit.issue_tree_head()
        held = self._client.latest(self._audit.log_id)
        proof: list[bytes] = []
        if held is not None and 0 < held.tree_size < head.tree_size:
            proof = self._audit.consistency(held.tree_size, head.tree_size)
        return self._client.send(head, proof)
