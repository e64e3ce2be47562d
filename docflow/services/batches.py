"""Batch signing: a queue of documents signed in one action and one key session.

A leader's token (or remote signing service) signs every prepared item's data in one PIN
session; each document is then completed by its own job, with its own status and retries.
A clerk's batch of seals uses the organisation seal the server holds: each document is a job
that seals it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from docflow.domain.audit import Origin
from docflow.domain.errors import DomainError, Invalid, NotFound
from docflow.domain.org import Actor
from docflow.domain.signatures import (
    Authority,
    BatchItem,
    BatchItemStatus,
    SignatureKind,
    SigningBatch,
)
from docflow.services.identity import IdentityService
from docflow.services.ids import new_id
from docflow.services.ports import (
    Clock,
    JobQueue,
    RemotePreparation,
    RemoteSigning,
    UnitOfWorkFactory,
)
from docflow.services.signatures import SignatureService

COMPLETE_ITEM_JOB = "complete_batch_item"
SEAL_ITEM_JOB = "seal_batch_item"
MAX_BATCH = 500


class _AlreadySigned(Exception):
    pass


class BatchSigningService:
    """Prepare many, receive the values together, complete each as a job."""

    def __init__(self, uow: UnitOfWorkFactory, signatures: SignatureService,
                 identity: IdentityService, remote: RemoteSigning, queue: JobQueue,
                 clock: Clock) -> None:
        self._uow = uow
        self._signatures = signatures
        self._identity = identity
        self._remote = remote
        self._queue = queue
        self._clock = clock

    def prepare(
        self, actor: Actor, document_ids: Sequence[str], kind: SignatureKind,
        certificate_der: bytes, chain_der: Sequence[bytes], origin: Origin, *,
        position: str = "", authority: Authority | None = None,
    ) -> tuple[SigningBatch, list[BatchItem], dict[str, RemotePreparation]]:
        """One signing session per document; a document that cannot be signed now gets a
        failed item with the reason, and the others go on."""
        ids = list(dict.fromkeys(document_ids))
        if not ids or len(ids) > MAX_BATCH:
            raise Invalid.fmt("a batch holds 1 to %(most)s documents", {"most": MAX_BATCH})
        batch = SigningBatch(id=new_id(), actor_id=actor.id, kind=kind,
                             created_at=self._clock.now())
        items: list[BatchItem] = []
        prepared: dict[str, RemotePreparation] = {}
        for document_id in ids:
            item_id = new_id()
            try:
                session, preparation = self._signatures.prepare_remote(
                    actor, document_id, kind, self._remote, certificate_der, chain_der, origin,
                    position=position, authority=authority)
            except DomainError as exc:
                items.append(BatchItem(item_id, batch.id, document_id, None,
                                       BatchItemStatus.FAILED, error=exc.message))
                continue
            items.append(BatchItem(item_id, batch.id, document_id, session.id,
                                   BatchItemStatus.PREPARED))
            prepared[item_id] = preparation
        with self._uow() as uow:
            uow.batches.add(batch, items)
            uow.commit()
        return batch, items, prepared

    def submit_values(self, actor: Actor, batch_id: str, values: Mapping[str, bytes]
                      ) -> list[BatchItem]:
        """Take the device's values (by item id) and queue one completion job per item."""
        queued = []
        with self._uow() as uow:
            self._own(uow.batches.get(batch_id), actor)
            items = {i.id: i for i in uow.batches.items(batch_id)}
            unknown = sorted(set(values) - set(items))
            if unknown:
                raise Invalid("these items are not in the batch", errors=unknown)
            for item_id, value in values.items():
                item = items[item_id]
                if item.status is not BatchItemStatus.PREPARED:
                    continue
                item = replace(item, status=BatchItemStatus.QUEUED, signature_value=value)
                uow.batches.save_item(item)
                queued.append(item.id)
            uow.commit()
        for item_id in queued:
            self._queue.enqueue(COMPLETE_ITEM_JOB, item_id)
        return self.items(actor, batch_id)

    def complete_item(self, item_id: str) -> BatchItemStatus | None:
        """The job: complete one document's signature. A refusal is final (failed, with the
        reason); anything else is raised so the queue retries it. Safe to run twice."""
        with self._uow() as uow:
            item = uow.batches.item(item_id)
            batch = uow.batches.get(item.batch_id) if item else None
            session = uow.signing_sessions.get(item.session_id) \
                if item and item.session_id else None
        if item is None or batch is None or item.status is not BatchItemStatus.QUEUED:
            return item.status if item else None
        actor = self._identity.actor(batch.actor_id)
        assert item.session_id is not None and item.signature_value is not None
        try:
            if session is not None and session.completed_at is not None:
                # A run that signed, then died before saving the item: only the status is left.
                raise _AlreadySigned

            if actor is None:
                raise NotFound("the signer's account is gone")
            self._signatures.complete_remote(actor, item.session_id, item.signature_value,
                                             self._remote, Origin(via="job"))
            done = replace(item, status=BatchItemStatus.SIGNED, signature_value=None,
                           attempts=item.attempts + 1)
        except _AlreadySigned:
            done = replace(item, status=BatchItemStatus.SIGNED, signature_value=None)
        except DomainError as exc:
            done = replace(item, status=BatchItemStatus.FAILED, error=exc.message,
                           attempts=item.attempts + 1)
        return self._save(done)

    def seal(self, actor: Actor, document_ids: Sequence[str]
             ) -> tuple[SigningBatch, list[BatchItem]]:
        """Queue the organisation seal on each document, one job per document; the jobs use
        the seal the server holds for each document's unit."""
        ids = list(dict.fromkeys(document_ids))
        if not ids or len(ids) > MAX_BATCH:
            raise Invalid.fmt("a batch holds 1 to %(most)s documents", {"most": MAX_BATCH})
        batch = SigningBatch(id=new_id(), actor_id=actor.id, kind=SignatureKind.SEAL,
                             created_at=self._clock.now())
        items = [BatchItem(new_id(), batch.id, document_id, None, BatchItemStatus.QUEUED)
                 for document_id in ids]
        with self._uow() as uow:
            uow.batches.add(batch, items)
            uow.commit()
        for item in items:
            self._queue.enqueue(SEAL_ITEM_JOB, item.id)
        return batch, items

    def seal_item(self, item_id: str) -> BatchItemStatus | None:
        """The job: seal one document of a batch. A refusal is final (failed, with the
        reason); anything else is raised so the queue retries it. Safe to run twice."""
        with self._uow() as uow:
            item = uow.batches.item(item_id)
            batch = uow.batches.get(item.batch_id) if item else None
        if item is None or batch is None or item.status is not BatchItemStatus.QUEUED:
            return item.status if item else None
        actor = self._identity.actor(batch.actor_id)
        try:
            if actor is None:
                raise NotFound("the clerk's account is gone")
            if not self._sealed_by_batch(actor, item.document_id, batch):
                self._signatures.seal(actor, item.document_id, Origin(via="job"))
            done = replace(item, status=BatchItemStatus.SIGNED, attempts=item.attempts + 1)
        except DomainError as exc:
            done = replace(item, status=BatchItemStatus.FAILED, error=exc.message,
                           attempts=item.attempts + 1)
        return self._save(done)

    def _save(self, item: BatchItem) -> BatchItemStatus:
        with self._uow() as uow:
            uow.batches.save_item(item)
            uow.commit()
        return item.status

    def _sealed_by_batch(self, actor: Actor, document_id: str, batch: SigningBatch) -> bool:
        """A run that sealed, then died before saving the item, left its seal: find it."""
        return any(r.kind is SignatureKind.SEAL and r.actor_id == actor.id
                   and r.signed_at >= batch.created_at
                   for r in self._signatures.signatures(actor, document_id))

    def items(self, actor: Actor, batch_id: str) -> list[BatchItem]:
        """The batch's items with their status: its progress."""
        with self._uow() as uow:
            self._own(uow.batches.get(batch_id), actor)
            return uow.batches.items(batch_id)

    @staticmethod
    def _own(batch: SigningBatch | None, actor: Actor) -> SigningBatch:
        if batch is None or batch.actor_id != actor.id:
            raise NotFound("no such signing batch")
        return batch
