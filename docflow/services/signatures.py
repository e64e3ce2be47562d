"""Applying Decree-30 signatures: each one makes a new immutable revision and a record."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from docflow.domain.audit import Action, AuditEvent, Origin
from docflow.domain.documents import Document, Revision, RevisionKind
from docflow.domain.errors import Conflict, Invalid, NotFound
from docflow.domain.org import Actor
from docflow.domain.signatures import (
    Authority,
    SignatureKind,
    SignatureRecord,
    check_signing,
)
from docflow.services.documents import load_visible
from docflow.services.ids import new_id
from docflow.services.ports import (
    BlobStore,
    Clock,
    SignatureRequest,
    SigningKey,
    UnitOfWork,
    UnitOfWorkFactory,
)
from docflow.services.uploads import spool


@dataclass(frozen=True)
class SigningLimits:
    spool_dir: Path
    max_bytes: int


class SignatureService:
    """Sign the current revision with a key the caller brings, store the result, record it."""

    def __init__(self, uow: UnitOfWorkFactory, blobs: BlobStore, clock: Clock,
                 limits: SigningLimits) -> None:
        self._uow = uow
        self._blobs = blobs
        self._clock = clock
        self._limits = limits

    def sign(
        self,
        actor: Actor,
        document_id: str,
        kind: SignatureKind,
        key: SigningKey,
        origin: Origin,
        *,
        position: str = "",
        authority: Authority | None = None,
        revision_id: str | None = None,
        reviewer_index: int = 1,
    ) -> SignatureRecord:
        """Apply one signature. The main file is signed unless `revision_id` names an
        attachment (attachment signatures only). Refuses what Decree 30's order forbids."""
        with self._uow() as uow:
            document = load_visible(uow, actor, document_id)
            self._check(uow, actor, document, kind, authority)
            base = self._base(document, kind, revision_id)
        if kind is SignatureKind.LEADER and not position.strip():
            raise Invalid("the leader's signature shows the signer's position (e.g. CHỦ TỊCH)")
        with self._blobs.open(base.sha256) as stream:
            data = stream.read()
        now = self._clock.now()
        signed = key.sign(data, SignatureRequest(
            kind=kind, signed_at=now, full_name=actor.user.full_name, position=position,
            authority=authority, number_symbol=document.symbol, reviewer_index=reviewer_index))
        with spool(io.BytesIO(signed.pdf), limit=self._limits.max_bytes,
                   directory=self._limits.spool_dir) as spooled:
            self._blobs.put_file(spooled.path, spooled.sha256, spooled.size, "application/pdf")
        with self._uow() as uow:
            document = load_visible(uow, actor, document_id, for_update=True)
            self._check(uow, actor, document, kind, authority)
            if self._base(document, kind, revision_id).id != base.id:
                raise Conflict("the file changed while it was being signed; sign it again")
            revision = Revision(
                id=new_id(), document_id=document.id, kind=base.kind,
                seq=1 + max(r.seq for r in document.revisions if r.kind is base.kind),
                filename=base.filename, sha256=spooled.sha256, size=spooled.size,
                media_type="application/pdf", page_count=base.page_count, created_at=now,
                created_by=actor.id, parent_id=base.id)
            uow.documents.add_revision(revision)
            record = SignatureRecord(
                id=new_id(), document_id=document.id, revision_id=revision.id, kind=kind,
                field=signed.field, signed_sha256=base.sha256, result_sha256=spooled.sha256,
                signer_subject=signed.subject,
                certificate_sha256=hashlib.sha256(signed.certificate_der).hexdigest(),
                certificate_der=signed.certificate_der, authority=authority, signed_at=now,
                actor_id=actor.id)
            uow.signatures.add(record)
            uow.audit.append(AuditEvent(
                at=now, action=Action.DOCUMENT_SIGN, object_type="document",
                object_id=document.id, actor_id=actor.id, unit_code=document.unit_code,
                document_id=document.id, origin=origin, details={
                    "kind": kind.value, "field": signed.field, "revision": revision.id,
                    "signed_sha256": base.sha256, "result_sha256": spooled.sha256,
                    "signer": signed.subject, "certificate_sha256": record.certificate_sha256,
                    "authority": authority.value if authority else None}))
            uow.commit()
        return record

    def signatures(self, actor: Actor, document_id: str) -> list[SignatureRecord]:
        """The signatures applied to a document the actor may see, oldest first."""
        with self._uow() as uow:
            load_visible(uow, actor, document_id)
            return uow.signatures.for_document(document_id)

    @staticmethod
    def _check(uow: UnitOfWork, actor: Actor, document: Document, kind: SignatureKind,
               authority: Authority | None) -> None:
        done = [r.kind for r in uow.signatures.for_document(document.id)]
        check_signing(kind, actor.roles_in(document.unit_code), document.status, done,
                      authority)

    @staticmethod
    def _base(document: Document, kind: SignatureKind, revision_id: str | None) -> Revision:
        if kind is SignatureKind.ATTACHMENT:
            if revision_id is None:
                raise Invalid("name the attachment to sign")
            chosen = next((r for r in document.revisions if r.id == revision_id), None)
            if chosen is None or chosen.kind is not RevisionKind.ATTACHMENT:
                raise NotFound("no such attachment")
            if any(r.parent_id == chosen.id for r in document.revisions):
                raise Conflict("this attachment has a newer, signed revision: sign that one")
            return chosen
        if revision_id is not None:
            raise Invalid("only attachment signatures name a revision")
        main = document.main_revision()
        if main is None:
            raise Conflict("the document has no main file")
        return main
