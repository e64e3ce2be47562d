"""Applying Decree-30 signatures: each one makes a new immutable revision and a record."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import workflows
from docflow.domain.audit import Action, AuditEvent, Origin
from docflow.domain.delegation import Delegation, authority_for_signing, needs_record
from docflow.domain.documents import Document, DocumentStatus, Revision, RevisionKind
from docflow.domain.errors import Conflict, Invalid, NotFound, TooLarge
from docflow.domain.notifications import NoticeKind
from docflow.domain.org import Actor, Role
from docflow.domain.outgoing import fires
from docflow.domain.signatures import (
    Authority,
    SignatureKind,
    SignatureRecord,
    SigningSession,
    check_signing,
)
from docflow.services.documents import (
    WORKFLOWS,
    load_visible,
    run_workflow,
    signed_on,
    supersede,
)
from docflow.services.ids import new_id
from docflow.services.notifications import notify
from docflow.services.ports import (
    BlobStore,
    Clock,
    RemotePreparation,
    RemoteSigning,
    SealKeys,
    SignatureRequest,
    SignedPdf,
    SigningKey,
    UnitOfWork,
    UnitOfWorkFactory,
)

FIRES = {SignatureKind.LEADER: "sign", SignatureKind.SEAL: "seal"}
"""The outgoing trigger each signature fires, where the document's flow has it."""


@dataclass(frozen=True)
class SigningLimits:
    max_bytes: int
    """The largest signed file kept (a signature adds an image, a font and a container)."""
    timezone: str = "Asia/Ho_Chi_Minh"
    """Civil time, for the day a delegation must cover."""

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class SignatureService:
    """Sign the current revision with a key the caller brings, store the result, record it."""

    def __init__(self, uow: UnitOfWorkFactory, blobs: BlobStore, clock: Clock,
                 limits: SigningLimits, seals: SealKeys,
                 flows: workflows.Registry = WORKFLOWS) -> None:
        self._uow = uow
        self._flows = flows
        self._blobs = blobs
        self._clock = clock
        self._limits = limits
        self._seals = seals

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
        if key.calls_out:  # no transaction waits on another server's answer
            document, base = self._start(actor, document_id, kind, authority, revision_id)
            _require_position(kind, position)
            now = self._clock.now()
            signed = key.sign(self._read(base), self._request(
                None, actor, document, kind, now, position, authority, reviewer_index))
            return self._store(actor, document_id, kind, base, revision_id, signed, authority,
                               now, origin)
        with self._uow() as uow:
            # One transaction, the document locked while the key signs: a second signature
            # on it waits, then finds it signed; the checks are made once, not again before
            # storing (a fifth of a signature's time on a 20-page PDF).
            document = load_visible(uow, actor, document_id, for_update=True)
            delegation, roles = self._check(uow, actor, document, kind, authority)
            base = self._base(document, kind, revision_id)
            _require_position(kind, position)
            now = self._clock.now()
            signed = key.sign(self._read(base), self._request(
                uow, actor, document, kind, now, position, authority, reviewer_index))
            record = self._record(uow, actor, document, kind, base, signed, authority,
                                  delegation, roles, now, origin)
            uow.commit()
        return record

    def seal(self, actor: Actor, document_id: str, origin: Origin, *,
             revision_id: str | None = None) -> SignatureRecord:
        """The organisation's signature with the seal the server holds for the document's
        unit: the seal on the main file, or, when `revision_id` names an attachment, the
        attachment's signature."""
        kind = SignatureKind.ATTACHMENT if revision_id else SignatureKind.SEAL
        document, _base = self._start(actor, document_id, kind, None, revision_id)
        with self._seals.open(document.unit_code) as key:  # only once the clerk may seal
            return self.sign(actor, document_id, kind, key, origin, revision_id=revision_id)

    def prepare_remote(
        self,
        actor: Actor,
        document_id: str,
        kind: SignatureKind,
        remote: RemoteSigning,
        certificate_der: bytes,
        chain_der: Sequence[bytes],
        origin: Origin,
        *,
        position: str = "",
        authority: Authority | None = None,
        revision_id: str | None = None,
        ttl: timedelta = timedelta(minutes=10),
    ) -> tuple[SigningSession, RemotePreparation]:
        """Phase one of a signature whose key is elsewhere: reserve it in the PDF and return
        the data the signer's device must sign, valid for `ttl`."""
        document, base = self._start(actor, document_id, kind, authority, revision_id)
        _require_position(kind, position)
        now = self._clock.now()
        prepared = remote.prepare(self._read(base), self._request(
            None, actor, document, kind, now, position, authority, 1), certificate_der,
            chain_der, now + ttl)
        prepared_sha256 = self._put(prepared.prepared_pdf)
        session = SigningSession(
            id=new_id(), document_id=document.id, actor_id=actor.id, kind=kind,
            base_revision_id=base.id, prepared_sha256=prepared_sha256,
            state={**prepared.state, "revision_id": revision_id}, authority=authority,
            expires_at=now + ttl)
        with self._uow() as uow:
            uow.signing_sessions.add(session)
            uow.commit()
        return session, prepared

    def complete_remote(
        self, actor: Actor, session_id: str, signature_value: bytes, remote: RemoteSigning,
        origin: Origin,
    ) -> SignatureRecord:
        """Phase two: embed the value the device returned, after checking it."""
        now = self._clock.now()
        with self._uow() as uow:
            session = uow.signing_sessions.get(session_id)
        if session is None or session.actor_id != actor.id:
            raise NotFound("no such signing session")
        if session.completed_at is not None:
            raise Conflict("this signing session is complete already")
        if now > session.expires_at:
            raise Conflict("the signing session expired; prepare the signature again")
        revision_id = session.state.get("revision_id")
        document, base = self._start(actor, session.document_id, session.kind,
                                     session.authority,
                                     str(revision_id) if revision_id else None)
        if base.id != session.base_revision_id:
            raise Conflict("the file changed after the signature was prepared; prepare again")
        with self._blobs.open(session.prepared_sha256) as stream:
            prepared_pdf = stream.read()
        signed = remote.complete(prepared_pdf, session.state, signature_value, now)
        record = self._store(actor, document.id, session.kind, base,
                             str(revision_id) if revision_id else None, signed,
                             session.authority, now, origin, session_id=session.id)
        return record

    # --- shared ------------------------------------------------------------------------------

    def _start(self, actor: Actor, document_id: str, kind: SignatureKind,
               authority: Authority | None, revision_id: str | None
               ) -> tuple[Document, Revision]:
        with self._uow() as uow:
            document = load_visible(uow, actor, document_id)
            self._check(uow, actor, document, kind, authority)
            base = self._base(document, kind, revision_id)
        return document, base

    def _read(self, revision: Revision) -> bytes:
        with self._blobs.open(revision.sha256) as stream:
            return stream.read()

    def _request(self, uow: UnitOfWork | None, actor: Actor, document: Document,
                 kind: SignatureKind, now: datetime, position: str,
                 authority: Authority | None, reviewer_index: int) -> SignatureRequest:
        return SignatureRequest(kind=kind, signed_at=now, full_name=actor.user.full_name,
                                position=position, authority=authority,
                                number_symbol=document.symbol, reviewer_index=reviewer_index,
                                image=self._image(uow, actor, document, kind))

    def _image(self, uow: UnitOfWork | None, actor: Actor, document: Document,
               kind: SignatureKind) -> bytes | None:
        """The signer's uploaded signature image (leader) or the unit's seal image (seal)."""
        digest = None
        if kind is SignatureKind.LEADER:
            digest = actor.user.signature_image
        elif kind is SignatureKind.SEAL:
            if uow is None:
                with self._uow() as own:
                    unit = own.units.get(document.unit_code)
            else:
                unit = uow.units.get(document.unit_code)
            digest = unit.seal_image if unit else None
        if digest is None:
            return None
        with self._blobs.open(digest) as stream:
            return stream.read()

    def _store(self, actor: Actor, document_id: str, kind: SignatureKind, base: Revision,
               revision_id: str | None, signed: SignedPdf, authority: Authority | None,
               now: datetime, origin: Origin, *, session_id: str | None = None
               ) -> SignatureRecord:
        """Check again under lock (the key signed outside any transaction), then record."""
        with self._uow() as uow:
            document = load_visible(uow, actor, document_id, for_update=True)
            delegation, roles = self._check(uow, actor, document, kind, authority)
            if self._base(document, kind, revision_id).id != base.id:
                raise Conflict("the file changed while it was being signed; sign it again")
            record = self._record(uow, actor, document, kind, base, signed, authority,
                                  delegation, roles, now, origin, session_id=session_id)
            uow.commit()
        return record

    def _record(self, uow: UnitOfWork, actor: Actor, document: Document, kind: SignatureKind,
                base: Revision, signed: SignedPdf, authority: Authority | None,
                delegation: Delegation | None, roles: frozenset[str], now: datetime,
                origin: Origin, *, session_id: str | None = None) -> SignatureRecord:
        """The blob, and meanwhile the revision, the record, the move and the audit event in
        the caller's transaction; returns once the blob is stored, so the commit that follows
        never names a file that is not there."""
        result_sha256, stored = self._put_soon(signed.pdf)
        record = self._rows(uow, actor, document, kind, base, signed, result_sha256, authority,
                            delegation, roles, now, origin, session_id=session_id)
        stored.result()  # raises what the store raised: the caller's transaction rolls back
        return record

    def _rows(self, uow: UnitOfWork, actor: Actor, document: Document, kind: SignatureKind,
              base: Revision, signed: SignedPdf, result_sha256: str,
              authority: Authority | None, delegation: Delegation | None,
              roles: frozenset[str], now: datetime, origin: Origin, *,
              session_id: str | None) -> SignatureRecord:
        revision = Revision(
            id=new_id(), document_id=document.id, kind=base.kind,
            seq=1 + max(r.seq for r in document.revisions if r.kind is base.kind),
            filename=base.filename, sha256=result_sha256, size=len(signed.pdf),
            media_type="application/pdf", page_count=base.page_count, created_at=now,
            created_by=actor.id, parent_id=base.id)
        record = SignatureRecord(
            id=new_id(), document_id=document.id, revision_id=revision.id, kind=kind,
            field=signed.field, signed_sha256=base.sha256, result_sha256=result_sha256,
            signer_subject=signed.subject,
            certificate_sha256=hashlib.sha256(signed.certificate_der).hexdigest(),
            certificate_der=signed.certificate_der, authority=authority, signed_at=now,
            actor_id=actor.id)
        uow.signatures.add(record, revision)
        if session_id is not None:
            uow.signing_sessions.finish(session_id, now)
        moved = self._advance(document, kind, roles, actor, now)
        if moved is not None:
            uow.documents.save(document)
            if moved.target == "issued":
                supersede(uow, document, actor, now, origin)
            if moved.target == "signed":
                notify(uow, NoticeKind.TO_ISSUE,
                       f"Văn bản đã ký, chờ cấp số và đóng dấu: {document.abstract[:120]}",
                       f"sign:{document.id}:{now.isoformat()}", now,
                       units=[document.unit_code], roles=[Role.CLERK.value],
                       document_id=document.id, skip=[actor.id])
        uow.audit.append(AuditEvent(
            at=now, action=Action.DOCUMENT_SIGN, object_type="document",
            object_id=document.id, actor_id=actor.id, unit_code=document.unit_code,
            document_id=document.id, origin=origin, details={
                "kind": kind.value, "field": signed.field, "revision": revision.id,
                "signed_sha256": base.sha256, "result_sha256": result_sha256,
                "signer": signed.subject, "certificate_sha256": record.certificate_sha256,
                "authority": authority.value if authority else None,
                "delegation": delegation.id if delegation else None,
                "remote_session": session_id,
                **({"from": moved.source, "to": moved.target} if moved else {})},
            authority=f"{authority.value} (delegation {delegation.id})" if authority
            and delegation else authority.value if authority
            else ",".join(sorted(actor.roles_in(document.unit_code))) or None))
        return record

    def _put(self, pdf: bytes) -> str:
        """Store a PDF docflow made (it is in memory already: no spool file, one write)."""
        digest, stored = self._put_soon(pdf)
        stored.result()
        return digest

    def _put_soon(self, pdf: bytes) -> tuple[str, Future[None]]:
        """Start storing a PDF docflow made; its digest now, the store's answer later.

        The write runs on a thread of its own: a large file's write and fsync (or its S3
        PUT) then overlap the database's round trips (docs/PERFORMANCE.md)."""
        if len(pdf) > self._limits.max_bytes:
            raise TooLarge.fmt("the signed file would be larger than the limit of %(limit)s "
                               "bytes", {"limit": self._limits.max_bytes},
                               limit=self._limits.max_bytes)
        digest = hashlib.sha256(pdf).hexdigest()
        return digest, _writer().submit(self._blobs.put_bytes, pdf, digest, "application/pdf")

    def signatures(self, actor: Actor, document_id: str) -> list[SignatureRecord]:
        """The signatures applied to a document the actor may see, oldest first."""
        with self._uow() as uow:
            load_visible(uow, actor, document_id)
            return uow.signatures.for_document(document_id)

    def _advance(self, document: Document, kind: SignatureKind, roles: frozenset[str],
                 actor: Actor, now: datetime) -> workflows.Fired | None:
        """From outgoing v2 the leader's signature moves the document to ``signed`` and the
        organisation's seal to ``issued``: the flow's only ways there."""
        trigger = FIRES.get(kind)
        definition = self._flows.get(document.workflow, document.workflow_version)
        if trigger is None or not fires(definition, trigger):
            return None
        fired = run_workflow(definition, document.status, trigger, workflows.Context(
            actor=actor.id, at=now, roles={"drafting_unit": roles}))
        document.status = DocumentStatus(fired.target)
        document.updated_at = now
        return fired

    def _check(self, uow: UnitOfWork, actor: Actor, document: Document, kind: SignatureKind,
               authority: Authority | None) -> tuple[Delegation | None, frozenset[str]]:
        """Refuse what Decree 30 forbids; for the leader's signature with a prefix that needs
        one, the delegation record it rests on; the roles the signer acts in."""
        main = document.main_revision()
        done = signed_on(uow, document, main) if main is not None else []
        roles = actor.roles_in(document.unit_code)
        delegation = None
        if kind is SignatureKind.LEADER:
            today = self._clock.now().astimezone(self._limits.zone).date()
            delegation = authority_for_signing(
                authority, Role.LEADER.value in roles, document.doc_type, today,
                uow.delegations.held(actor.id, document.unit_code)
                if needs_record(authority) else ())
            if delegation is not None:  # TL. and TUQ. let a chief of office sign
                roles = roles | {Role.LEADER.value}
        check_signing(kind, roles, document.status, done, authority)
        return delegation, frozenset(roles)

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


_WRITERS: dict[int, ThreadPoolExecutor] = {}
_WRITERS_LOCK = threading.Lock()


def _writer() -> ThreadPoolExecutor:
    """This process's blob-writing threads. By process id: a forked worker (RQ's work
    horse) inherits the parent's pool without its threads, and would wait on it forever."""
    pid = os.getpid()
    with _WRITERS_LOCK:
        pool = _WRITERS.get(pid)
        if pool is None:
            _WRITERS.clear()
            pool = _WRITERS[pid] = ThreadPoolExecutor(max_workers=4,
                                                      thread_name_prefix="docflow-blob")
        return pool


def _require_position(kind: SignatureKind, position: str) -> None:
    if kind is SignatureKind.LEADER and not position.strip():
        raise Invalid("the leader's signature shows the signer's position (e.g. CHỦ TỊCH)")
