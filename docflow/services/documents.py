"""Outgoing documents and their incoming entries: the round trip of a directive."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo

import workflows
from docflow.domain import access
from docflow.domain.audit import SYSTEM, Action, AuditEvent, Origin
from docflow.domain.documents import (
    CATALOGUE,
    Document,
    DocumentStatus,
    DocumentUpdate,
    DraftSpec,
    ExternalSpec,
    Revision,
    RevisionKind,
    Urgency,
    check_draft,
    check_external,
    format_symbol,
    identifier,
    number_period,
    number_register,
    symbol_number,
)
from docflow.domain.errors import Conflict, Forbidden, Invalid, NotFound
from docflow.domain.notifications import Notice, NoticeKind
from docflow.domain.org import ROLES, Actor, Role
from docflow.domain.outgoing import check_outgoing, fires
from docflow.domain.routing import (
    Dispatch,
    DispatchStatus,
    DispatchTarget,
    Duplicate,
    RecallStatus,
    Receipt,
    ReceiptStatus,
    check_not_frozen,
    duplicates,
    may_recall,
)
from docflow.domain.signatures import SignatureKind
from docflow.services.ids import new_id
from docflow.services.notifications import notify, notify_entries
from docflow.services.ports import (
    BlobStore,
    Clock,
    JobQueue,
    PdfInspector,
    UnitOfWork,
    UnitOfWorkFactory,
)
from docflow.services.uploads import spool


def flows(extra: Sequence[workflows.Definition] = ()) -> workflows.Registry:
    """The shipped definitions and an organisation's own (`extra`, e.g. a commune's outgoing
    flow without a review round), each outgoing one from v2 on held to the fixed tail
    (`check_outgoing`): refused at start, never half-run."""
    registry = workflows.builtin(ROLES, extra=extra)
    base = registry.get("outgoing", 2)
    for name in registry.names():
        for version in registry.versions(name):
            d = registry.get(name, version)
            if (name == "outgoing" and version >= 2) or d.variant_of == "outgoing":
                check_outgoing(d, base)
    return registry


WORKFLOWS = flows()
OUTGOING = WORKFLOWS.get("outgoing")
"""The newest shipped outgoing flow; a document keeps the definition and version it started
with (`Document.workflow`, `workflow_version`), an organisation's variant included."""
RECEIPT = WORKFLOWS.get("incoming")
CASCADE = WORKFLOWS.get("cascade")
DRAFTING_ROLES = frozenset({Role.OFFICER, Role.LEADER, Role.CLERK})
REVIEW_ACTIONS = (Action.DOCUMENT_SUBMIT, Action.DOCUMENT_COMMENT, Action.DOCUMENT_RETURN,
                  Action.DOCUMENT_REVIEW, Action.DOCUMENT_APPROVE)
FAN_OUT_JOB = "fan_out_dispatch"
VALIDATE_JOB = "validate_dispatch"


@dataclass(frozen=True)
class DocumentLimits:
    max_upload_bytes: int
    spool_dir: Path
    allow_classified: bool = False
    timezone: str = "Asia/Ho_Chi_Minh"
    party_numbers_per_type: bool = True
    """Party committees number each type separately within a term (Guideline 36)."""


@dataclass(frozen=True)
class Download:
    """What a download needs: the revision, and either a URL to redirect to or a stream."""

    revision: Revision
    url: str | None
    stream: BinaryIO | None


class DocumentService:
    """Handlers for drafting, approval, issue, dispatch and the recipients' registration."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        blobs: BlobStore,
        queue: JobQueue,
        pdfs: PdfInspector,
        clock: Clock,
        limits: DocumentLimits,
        flows: workflows.Registry = WORKFLOWS,
    ) -> None:
        self._uow = uow
        self._flows = flows
        self._blobs = blobs
        self._queue = queue
        self._pdfs = pdfs
        self._clock = clock
        self._limits = limits
        self._tz = ZoneInfo(limits.timezone)

    def _today(self, at: datetime) -> date:
        # Years and days follow the organisation's civil time, not UTC.
        return at.astimezone(self._tz).date()

    # --- drafting ---------------------------------------------------------------------------

    def draft(
        self, actor: Actor, spec: DraftSpec, origin: Origin, unit_code: str | None = None
    ) -> Document:
        """Create a draft in `unit_code` (default: the actor's own working unit)."""
        now = self._clock.now()
        spec = check_draft(spec, allow_classified=self._limits.allow_classified,
                           today=self._today(now))
        unit_code = unit_code or actor.primary_unit()
        if unit_code is None or not actor.roles_in(unit_code) & DRAFTING_ROLES:
            raise Forbidden("only officers, leaders and clerks of a unit draft its documents")
        with self._uow() as uow:
            if spec.recipients:
                known = uow.units.get_many(spec.recipients)
                missing = [c for c in spec.recipients if c not in known]
                if missing:
                    raise Invalid("unknown recipient units", errors=missing)
            if spec.replaces:
                replaced = load_visible(uow, actor, spec.replaces)
                if replaced.unit_code != unit_code:
                    raise Invalid("a document replaces one its own unit issued")
                if replaced.status not in (DocumentStatus.ISSUED, DocumentStatus.DISPATCHED) \
                        or replaced.recalled_at is not None \
                        or replaced.replaced_by_id is not None:
                    raise Conflict("only an issued document, not recalled nor replaced "
                                   "already, is replaced")
            unit = uow.units.get(unit_code)
            if unit is None or not unit.is_active(self._today(now)):
                raise Conflict.fmt("%(unit)s was merged or closed: draft in its successor "
                                   "(%(successor)s)", {"unit": unit_code, "successor":
                                                       unit.successor_code if unit else "-"})
            if unit.family not in CATALOGUE[spec.doc_type].families:
                kind = {"type": CATALOGUE[spec.doc_type].name}
                if unit.family == "party":
                    raise Invalid.fmt("a %(type)s is not issued by a Party committee", kind)
                raise Invalid.fmt("a %(type)s is not issued by a State body", kind)
            flow = self._flows.for_unit(OUTGOING.name, unit_code, unit.level)
            document = Document(
                id=new_id(),
                unit_code=unit_code,
                created_by=actor.id,
                created_at=now,
                doc_type=spec.doc_type,
                abstract=spec.abstract,
                urgency=spec.urgency,
                confidentiality=spec.confidentiality,
                recipients=spec.recipients,
                reply_due=spec.reply_due,
                status=DocumentStatus(flow.initial),
                workflow=flow.name,
                workflow_version=flow.version,
                replaces_id=spec.replaces,
                updated_at=now,
                department=spec.department,
            )
            uow.documents.add(document)
            uow.audit.append(self._event(now, Action.DOCUMENT_CREATE, document, actor, origin,
                                         {"type": spec.doc_type, "abstract": spec.abstract,
                                          "workflow": flow.name,
                                          "workflow_version": flow.version}))
            uow.commit()
        return document

    def attach(
        self,
        actor: Actor,
        document_id: str,
        kind: RevisionKind,
        filename: str,
        stream: BinaryIO,
        origin: Origin,
    ) -> Revision:
        """Add a file (main or attachment) to a draft: spool, check, store the blob, then the
        row."""
        filename = _clean_filename(filename)
        with self._uow() as uow:
            self._editable(uow, actor, document_id)
        with spool(stream, limit=self._limits.max_upload_bytes,
                   directory=self._limits.spool_dir) as spooled:
            info = self._pdfs.inspect(spooled.path)
            self._blobs.put_file(spooled.path, spooled.sha256, spooled.size, "application/pdf")
        now = self._clock.now()
        with self._uow() as uow:
            document = self._editable(uow, actor, document_id, for_update=True)
            revision = Revision(
                id=new_id(),
                document_id=document.id,
                kind=kind,
                seq=1 + max((r.seq for r in document.revisions if r.kind is kind), default=0),
                filename=filename,
                sha256=spooled.sha256,
                size=spooled.size,
                media_type="application/pdf",
                page_count=info.page_count,
                created_at=now,
                created_by=actor.id,
            )
            uow.documents.add_revision(revision)
            uow.audit.append(self._event(now, Action.DOCUMENT_ATTACH, document, actor, origin, {
                "revision": revision.id, "kind": kind.value, "filename": filename,
                "sha256": spooled.sha256, "size": spooled.size, "pages": info.page_count}))
            uow.commit()
        return revision

    def _editable(
        self, uow: UnitOfWork, actor: Actor, document_id: str, *, for_update: bool = False
    ) -> Document:
        document = load_visible(uow, actor, document_id, for_update=for_update)
        if not actor.roles_in(document.unit_code) & DRAFTING_ROLES:
            raise Forbidden("only officers, leaders and clerks of the drafting unit change files")
        if document.status is not DocumentStatus.DRAFT:
            raise Conflict.fmt("files can change only on a draft; this one is %(status)s",
                               {"status": str(document.status)})
        return document

    # --- the outgoing workflow ---------------------------------------------------------------

    def submit(self, actor: Actor, document_id: str, origin: Origin) -> Document:
        """Send a draft to the unit's leaders for approval; it needs its main file."""
        return self._advance(actor, document_id, "submit", Action.DOCUMENT_SUBMIT, origin)

    def approve(self, actor: Actor, document_id: str, origin: Origin) -> Document:
        """A leader of the drafting unit approves the submitted document."""
        return self._advance(actor, document_id, "approve", Action.DOCUMENT_APPROVE, origin)

    def return_to_drafter(
        self, actor: Actor, document_id: str, reason: str, origin: Origin
    ) -> Document:
        """A leader sends the document back to draft, with a reason."""
        return self._advance(actor, document_id, "return", Action.DOCUMENT_RETURN, origin, reason)

    def issue(self, actor: Actor, document_id: str, origin: Origin) -> Document:
        """Outgoing v1: the clerk numbers the approved document and issues it. From v2 a
        document is numbered (`number`) and issued by the organisation's seal."""
        return self._advance(actor, document_id, "issue", Action.DOCUMENT_ISSUE, origin)

    def comment(self, actor: Actor, document_id: str, text: str, origin: Origin) -> Document:
        """A comment on a draft under review (kept in the trail, listed by `review_trail`)."""
        if not text.strip():
            raise Invalid("a comment says something")
        return self._advance(actor, document_id, "comment", Action.DOCUMENT_COMMENT, origin,
                             comment=text.strip()[:4000])

    def review_trail(self, actor: Actor, document_id: str) -> list[AuditEvent]:
        """The review rounds of a document: submissions, comments, returns with their
        reasons, passes and approvals, oldest first."""
        with self._uow() as uow:
            load_visible(uow, actor, document_id)
            return uow.audit.of_document(document_id, REVIEW_ACTIONS)

    def pass_review(self, actor: Actor, document_id: str, origin: Origin) -> Document:
        """The reviewing leader passes the draft on to the signing leader."""
        return self._advance(actor, document_id, "pass", Action.DOCUMENT_REVIEW, origin)

    def number(self, actor: Actor, document_id: str, origin: Origin) -> Document:
        """The clerk has checked the form of the signed document and gives it its number
        (gap-free per issuer, register and period); the seal then issues it."""
        return self._advance(actor, document_id, "number", Action.DOCUMENT_NUMBER, origin)

    def release_number(self, actor: Actor, document_id: str, reason: str, origin: Origin
                       ) -> Document:
        """Cancel a numbered document before it is sealed: its number goes back and the
        next issue of the same sequence takes it."""
        return self._advance(actor, document_id, "release", Action.DOCUMENT_RELEASE_NUMBER,
                             origin, reason)

    def _advance(
        self,
        actor: Actor,
        document_id: str,
        trigger: str,
        action: Action,
        origin: Origin,
        reason: str | None = None,
        comment: str | None = None,
    ) -> Document:
        now = self._clock.now()
        with self._uow() as uow:
            document = load_visible(uow, actor, document_id, for_update=True)
            fired = run_workflow(self.definition(document), document.status, trigger,
                          workflows.Context(actor=actor.id, at=now, reason=reason,
                                            roles=access.drafting_roles(actor, document.unit_code)))
            details: dict[str, object] = {"from": fired.source, "to": fired.target}
            if fired.reason:
                details["reason"] = fired.reason
            if comment:
                details["comment"] = comment
            if trigger == "submit":
                main = document.main_revision()
                if main is None:
                    raise Conflict("the draft has no main file yet")
                if SignatureKind.LEADER in signed_on(uow, document, main):
                    raise Conflict("this file carries the leader's signature from an earlier "
                                   "round; attach the corrected file first")
            if trigger == "release":
                assert document.number is not None and document.number_period is not None
                uow.sequences.give_back(document.unit_code,
                                        document.number_register or "outgoing",
                                        document.number_period, document.number, document.id,
                                        now)
                details.update(number=document.number, symbol=document.symbol,
                               period=document.number_period)
                document.number = document.symbol = document.number_period = None
                document.number_register = None
                document.identifier = document.issued_at = None
                document.issued_year = None
            if trigger in ("issue", "number"):
                issuer = uow.units.get(document.unit_code)
                if issuer is None:
                    raise NotFound("the issuing unit no longer exists")
                today = self._today(now)
                period = number_period(issuer.family, today,
                                       uow.units.terms(issuer.code) if issuer.family == "party"
                                       else ())
                register = number_register(issuer.family, document.doc_type,
                                           party_per_type=self._limits.party_numbers_per_type)
                number = uow.sequences.next(issuer.code, register, period)
                document.number, document.number_register = number, register
                document.symbol = format_symbol(number, document.doc_type, issuer.abbreviation,
                                                family=issuer.family,
                                                department=document.department)
                document.issued_at = now
                document.issued_year = today.year
                document.number_period = period
                document.identifier = identifier(issuer.code, today, document.symbol)
                details.update(number=number, symbol=document.symbol, period=period,
                               register=register)
            document.status = DocumentStatus(fired.target)
            document.updated_at = now
            uow.documents.save(document)
            uow.audit.append(self._event(now, action, document, actor, origin, details))
            self._tell(uow, trigger, fired, document, actor, now)
            if fired.target == DocumentStatus.ISSUED.value:
                supersede(uow, document, actor, now, origin)
            uow.commit()
        return document

    @staticmethod
    def _tell_sender(uow: UnitOfWork, receipt: Receipt, reason: str, now: datetime) -> None:
        """A returned entry (edXML 02) reaches the unit that sent it: the issuer, or the unit
        that passed it down."""
        dispatch = uow.dispatches.get(receipt.dispatch_id)
        document = uow.documents.get(receipt.document_id)
        if dispatch is None or document is None or document.external:
            return
        sender = dispatch.sender_unit or document.unit_code
        notify(uow, NoticeKind.ENTRY_RETURNED,
               f"{receipt.unit_code} trả lại văn bản {document.symbol}: {reason[:200]}",
               f"returned:{receipt.id}", now, units=[sender],
               roles=[Role.CLERK.value, Role.LEADER.value], document_id=document.id,
               receipt_id=receipt.id)

    @staticmethod
    def _tell(uow: UnitOfWork, trigger: str, fired: workflows.Fired, document: Document,
              actor: Actor, now: datetime) -> None:
        """Who must act next hears of it: leaders of a draft to review or approve, the
        drafter of a draft sent back."""
        label = document.symbol or document.abstract[:120]
        if fired.target in ("review", "submitted") and trigger in ("submit", "pass"):
            notify(uow, NoticeKind.TO_REVIEW, f"Dự thảo chờ cho ý kiến/duyệt: {label}",
                   f"{trigger}:{document.id}:{now.isoformat()}", now,
                   units=[document.unit_code], roles=[Role.LEADER.value],
                   document_id=document.id, skip=[actor.id])
        elif trigger == "return":
            notify(uow, NoticeKind.RETURNED, f"Dự thảo bị trả lại ({fired.reason}): {label}",
                   f"return:{document.id}:{now.isoformat()}", now,
                   users=[document.created_by], document_id=document.id, skip=[actor.id])

    def dispatch(
        self, actor: Actor, document_id: str, target: DispatchTarget, origin: Origin
    ) -> Dispatch:
        """The clerk sends the issued document; one background job creates every incoming entry."""
        target = target.check()
        now = self._clock.now()
        with self._uow() as uow:
            document = load_visible(uow, actor, document_id, for_update=True)
            if document.recalled_at is not None:
                raise Conflict("this document was recalled; it is not sent any further")
            fired = run_workflow(self.definition(document), document.status, "dispatch",
                          workflows.Context(actor=actor.id, at=now,
                                            roles=access.drafting_roles(actor, document.unit_code)))
            self._check_target(uow, target, document.unit_code, self._today(now))
            if fires(self.definition(document), "seal"):  # v2: attachments sealed first
                unsigned = [r.filename for r in _newest_attachments(document)
                            if SignatureKind.ATTACHMENT not in signed_on(uow, document, r)]
                if unsigned:
                    raise Conflict("each attachment needs the organisation's signature before "
                                   "the document is sent", attachments=unsigned)
            main = document.main_revision()
            dispatch = Dispatch(id=new_id(), document_id=document.id,
                                created_by=actor.id, created_at=now, target=target,
                                status=DispatchStatus.PENDING,
                                revision_sha256=main.sha256 if main else None)
            uow.dispatches.add(dispatch)
            document.status = DocumentStatus(fired.target)
            document.updated_at = now
            uow.documents.save(document)
            uow.audit.append(self._event(now, Action.DOCUMENT_DISPATCH, document, actor, origin, {
                "dispatch": dispatch.id, "units": list(target.unit_codes),
                "level": target.level, "under": target.under}))
            uow.commit()
        # After commit, so the job never looks for a row that is not there yet; a lost enqueue
        # is recovered by `requeue_stalled`.
        self._queue.enqueue(FAN_OUT_JOB, dispatch.id)
        self._queue.enqueue(VALIDATE_JOB, dispatch.id)
        return dispatch

    def forward(self, actor: Actor, receipt_id: str, target: DispatchTarget, origin: Origin,
                *, deadline: date | None = None) -> Dispatch:
        """A recipient unit passes a registered document down to its own sub-units (the
        cascade): the same file, fanned out by the same background job; the issuer sees the
        whole tree (`QueryService.cascade`)."""
        target = target.check()
        now = self._clock.now()
        with self._uow() as uow:
            receipt = own_entry(uow, actor, receipt_id)
            check_not_frozen(receipt.recall)
            if receipt.status not in (ReceiptStatus.REGISTERED, ReceiptStatus.ASSIGNED,
                                      ReceiptStatus.PROCESSING):
                raise Conflict.fmt("an entry is passed down once registered, and before it is "
                                   "done; this one is %(status)s",
                                   {"status": str(receipt.status)})
            position = "forwarded" if uow.dispatches.forwarded_by(
                receipt.document_id, receipt.unit_code) else "registered"
            fired = run_workflow(CASCADE, position, "forward", workflows.Context(
                actor=actor.id, at=now, roles=access.recipient_roles(actor, receipt.unit_code)))
            unit = uow.units.get(receipt.unit_code)
            assert unit is not None
            self._check_target(uow, target, unit.code, self._today(now), within=unit.path)
            received = uow.dispatches.get(receipt.dispatch_id)
            dispatch = Dispatch(id=new_id(), document_id=receipt.document_id,
                                created_by=actor.id, created_at=now, target=target,
                                status=DispatchStatus.PENDING,
                                revision_sha256=received.revision_sha256 if received else None,
                                sender_unit=unit.code, deadline=deadline)
            uow.dispatches.add(dispatch)
            uow.audit.append(AuditEvent(
                at=now, action=Action.RECEIPT_FORWARD, object_type="receipt",
                object_id=receipt.id, actor_id=actor.id, unit_code=unit.code,
                authority=actor.capacity_in(unit.code),
                document_id=receipt.document_id, origin=origin, details={
                    "from": fired.source, "to": fired.target, "dispatch": dispatch.id,
                    "units": list(target.unit_codes), "level": target.level,
                    "under": target.under}))
            uow.commit()
        self._queue.enqueue(FAN_OUT_JOB, dispatch.id)
        self._queue.enqueue(VALIDATE_JOB, dispatch.id)
        return dispatch

    def update_issued(self, actor: Actor, document_id: str, reason: str, origin: Origin, *,
                      reply_due: date | None = None, abstract: str | None = None
                      ) -> DocumentUpdate:
        """The sender updates an issued document's particulars (edXML business type 2): the
        reply date, or a corrected abstract; the signed file does not change. Every unit
        holding a copy is told; the update is listed with the document."""
        if not reason.strip():
            raise Invalid("an update states its reason")
        now = self._clock.now()
        with self._uow() as uow:
            document = load_visible(uow, actor, document_id, for_update=True)
            if not may_recall(actor.roles_in(document.unit_code)):
                raise Forbidden("an update is made by the issuing unit's leader or clerk")
            if document.status not in (DocumentStatus.ISSUED, DocumentStatus.DISPATCHED) \
                    or document.recalled_at is not None:
                raise Conflict("only an issued document, not recalled, is updated")
            changes: dict[str, list[str | None]] = {}
            if reply_due is not None and reply_due != document.reply_due:
                if reply_due < self._today(now):
                    raise Invalid("the new reply date has passed already")
                changes["reply_due"] = [document.reply_due.isoformat()
                                        if document.reply_due else None, reply_due.isoformat()]
                document.reply_due = reply_due
            if abstract is not None and " ".join(abstract.split()) != document.abstract:
                cleaned = " ".join(abstract.split())
                if not cleaned:
                    raise Invalid("the abstract (trích yếu) is required")
                changes["abstract"] = [document.abstract, cleaned]
                document.abstract = cleaned
            if not changes:
                raise Invalid("the update changes nothing")
            update = DocumentUpdate(id=new_id(), document_id=document.id, at=now, by=actor.id,
                                    reason=reason.strip(), changes=changes)
            document.updated_at = now
            uow.documents.save(document)
            uow.documents.add_update(update)
            uow.audit.append(self._event(now, Action.DOCUMENT_UPDATE, document, actor, origin,
                                         {"reason": update.reason, "changes": changes}))
            notify(uow, NoticeKind.UPDATED,
                   f"Văn bản {document.symbol} được cập nhật: {update.reason[:200]}",
                   f"update:{update.id}", now, units=uow.receipts.holders(document.id),
                   roles=[Role.CLERK.value, Role.LEADER.value], document_id=document.id)
            uow.commit()
        return update

    def updates(self, actor: Actor, document_id: str) -> list[DocumentUpdate]:
        """The updates of an issued document, oldest first."""
        with self._uow() as uow:
            load_visible(uow, actor, document_id)
            return uow.documents.updates(document_id)

    def recall(self, actor: Actor, document_id: str, reason: str, origin: Origin) -> int:
        """The sender asks every recipient for the document back (edXML 13), with the reason;
        each copy is frozen until its unit agrees (15, withdrawn) or refuses (16). Returns how
        many copies were asked."""
        if not reason.strip():
            raise Invalid("a recall states its reason")
        now = self._clock.now()
        with self._uow() as uow:
            document = load_visible(uow, actor, document_id, for_update=True)
            if not may_recall(actor.roles_in(document.unit_code)):
                raise Forbidden("a recall is made by the issuing unit's leader or clerk")
            if document.status is not DocumentStatus.DISPATCHED:
                raise Conflict.fmt("only a dispatched document is recalled; this one is "
                                   "%(status)s", {"status": str(document.status)})
            asked = uow.receipts.ask_recall(document.id, now)
            notify_entries(uow, NoticeKind.RECALL_ASKED,
                           f"Đề nghị thu hồi văn bản {document.symbol}: {reason.strip()[:200]}",
                           "recall", now, asked, [Role.CLERK.value, Role.LEADER.value],
                           document_id=document.id)
            document.recalled_at, document.recall_reason = now, reason.strip()
            document.updated_at = now
            uow.documents.save(document)
            uow.audit.append(self._event(now, Action.DOCUMENT_RECALL, document, actor, origin,
                                         {"reason": document.recall_reason,
                                          "copies": len(asked)}))
            uow.commit()
        return len(asked)

    def answer_recall(self, actor: Actor, receipt_id: str, agree: bool, origin: Origin,
                      reason: str | None = None) -> Receipt:
        """The recipient unit's answer to a recall: agree (the copy is withdrawn) or refuse,
        with its reason."""
        now = self._clock.now()
        with self._uow() as uow:
            receipt = own_entry(uow, actor, receipt_id)
            if not may_recall(actor.roles_in(receipt.unit_code)):
                raise Forbidden("the recipient unit's leader or clerk answers a recall")
            if receipt.recall is not RecallStatus.ASKED:
                raise Conflict("no recall of this document is waiting for an answer")
            if not agree and not (reason or "").strip():
                raise Invalid("refusing a recall states the reason")
            receipt.recall = RecallStatus.AGREED if agree else RecallStatus.REFUSED
            receipt.recall_reason = None if agree else (reason or "").strip()
            receipt.updated_at = now
            uow.receipts.save(receipt)
            uow.audit.append(AuditEvent(
                at=now, action=Action.RECEIPT_RECALL_AGREE if agree
                else Action.RECEIPT_RECALL_REFUSE, object_type="receipt",
                object_id=receipt.id, actor_id=actor.id, unit_code=receipt.unit_code,
                document_id=receipt.document_id, origin=origin,
                details={"reason": receipt.recall_reason},
                authority=actor.capacity_in(receipt.unit_code)))
            uow.commit()
        return receipt

    @staticmethod
    def _check_target(uow: UnitOfWork, target: DispatchTarget, issuer: str, today: date, *,
                      within: str | None = None) -> None:
        """Refuse unknown, inactive or self recipients; with `within` (a forwarding unit's
        path), recipients outside that unit's subtree too."""
        if target.unit_codes:
            units = uow.units.get_many(target.unit_codes)
            errors = [f"unknown unit '{c}'" for c in target.unit_codes if c not in units]
            errors += [f"unit '{u.code}' is not active (merged or closed)"
                       for u in units.values() if not u.is_active(today)]
            if issuer in target.unit_codes:
                errors.append("a unit does not dispatch to itself")
            if within is not None:
                errors += [f"unit '{u.code}' is not under {issuer}" for u in units.values()
                           if u.code != issuer and not u.path.startswith(within)]
            if errors:
                raise Invalid("the recipients are not valid", errors=errors)
            return
        assert target.level is not None and target.under is not None
        if target.level not in {lv.code for lv in uow.units.levels()}:
            raise Invalid.fmt("unknown level '%(level)s'", {"level": target.level})
        under = uow.units.get(target.under)
        if under is None:
            raise Invalid.fmt("unknown unit '%(unit)s'", {"unit": target.under})
        if within is not None and not under.path.startswith(within):
            raise Invalid.fmt("unit '%(unit)s' is not %(issuer)s or under it",
                              {"unit": target.under, "issuer": issuer})

    def fan_out(self, dispatch_id: str) -> int:
        """Create the incoming entries of one dispatch, in bulk. Safe to run twice.

        Returns how many entries this run created.
        """
        now = self._clock.now()
        with self._uow() as uow:
            dispatch = uow.dispatches.get(dispatch_id, for_update=True)
            if dispatch is None or dispatch.status is DispatchStatus.DONE:
                return 0
            target = dispatch.target
            if target.unit_codes:
                codes = list(target.unit_codes)
            else:
                assert target.level is not None and target.under is not None
                under = uow.units.get(target.under)
                codes = [] if under is None else uow.units.active_codes_at_level(
                    target.level, under.path, self._today(now))
            document = uow.documents.get(dispatch.document_id)
            assert document is not None
            held = uow.receipts.units_holding(dispatch.document_id, codes)
            codes = [c for c in codes if c not in held and c != document.unit_code]
            receipts = [
                Receipt(id=new_id(), dispatch_id=dispatch.id,
                        document_id=dispatch.document_id, unit_code=code,
                        status=ReceiptStatus(RECEIPT.initial), delivered_at=now, updated_at=now,
                        workflow_version=RECEIPT.version, deadline=dispatch.deadline,
                        # A forward still pending when the document was recalled delivers
                        # copies already asked back.
                        recall=RecallStatus.ASKED if document.recalled_at else None)
                for code in codes
            ]
            uow.receipts.add_many(receipts)
            uow.audit.append_many([
                AuditEvent(at=now, action=Action.RECEIPT_DELIVER, object_type="receipt",
                           object_id=r.id, actor_id=None, unit_code=r.unit_code,
                           document_id=r.document_id, origin=SYSTEM,
                           details={"dispatch": dispatch.id, "symbol": document.symbol})
                for r in receipts
            ])
            if document.urgency is not Urgency.NORMAL and receipts:
                # Urgent ones are registered at once: their clerks hear of them now (one query
                # over the dispatch's new entries, however many units it reached).
                uow.notifications.add_many([
                    Notice(id=new_id(), user_id=user, kind=NoticeKind.URGENT_ARRIVAL,
                           title=f"Văn bản {document.urgency.mark} đến: "
                                 f"{document.symbol} — {document.abstract[:120]}",
                           key=f"urgent:{receipt_id}", created_at=now, document_id=document.id,
                           receipt_id=receipt_id)
                    for receipt_id, user in uow.receipts.staff_of(
                        document.id, dispatch.id, [Role.CLERK.value])])
            uow.dispatches.finish(dispatch.id, DispatchStatus.DONE, len(receipts))
            uow.commit()
        return len(receipts)

    def dispatch_state(self, dispatch_id: str) -> Dispatch | None:
        """A dispatch as stored now (pending until its job has run)."""
        with self._uow() as uow:
            return uow.dispatches.get(dispatch_id)

    def requeue_stalled(self, older_than: timedelta = timedelta(minutes=5)) -> int:
        """Enqueue again the dispatches still pending after `older_than`; returns how many."""
        with self._uow() as uow:
            stalled = uow.dispatches.pending_before(self._clock.now() - older_than)
        for dispatch_id in stalled:
            self._queue.enqueue(FAN_OUT_JOB, dispatch_id)
        return len(stalled)

    def allowed_actions(self, actor: Actor, document: Document) -> list[str]:
        """Triggers of the outgoing workflow this actor may fire on the document now (``sign``
        and ``seal`` mean: apply that signature)."""
        if document.external:
            return []
        context = workflows.Context(actor=actor.id, at=self._clock.now(),
                                    roles=access.drafting_roles(actor, document.unit_code))
        return sorted({t.trigger for t in self.definition(document).allowed(document.status,
                                                                             context)})

    def definition(self, document: Document) -> workflows.Definition:
        """The outgoing definition (or variant) and version the document started with."""
        if document.external:
            raise Conflict("a document received from outside is not issued here; pass its "
                           "incoming entry on instead")
        return self._flows.get(document.workflow, document.workflow_version)

    def allowed_receipt_actions(self, actor: Actor, receipt: Receipt) -> list[str]:
        """Triggers of the incoming workflow this actor may fire on the entry now (and the
        answers to a recall, when one is asked)."""
        if receipt.recall is RecallStatus.ASKED:
            return ["agree_recall", "refuse_recall"] \
                if may_recall(actor.roles_in(receipt.unit_code)) else []
        if receipt.recall is RecallStatus.AGREED:
            return []
        with self._uow() as uow:
            context = receipt_context(uow, actor, receipt, self._clock.now())
        return sorted({t.trigger for t in incoming(receipt).allowed(receipt.status, context)})

    def receipt(self, actor: Actor, receipt_id: str) -> Receipt:
        """An incoming entry the actor may see."""
        with self._uow() as uow:
            receipt = uow.receipts.get(receipt_id)
            if receipt is None:
                raise NotFound("no such incoming entry")
            load_visible(uow, actor, receipt.document_id)
        return receipt

    # --- the recipients ----------------------------------------------------------------------

    def receive_external(self, actor: Actor, spec: ExternalSpec, filename: str,
                         stream: BinaryIO, origin: Origin, unit_code: str | None = None
                         ) -> tuple[Receipt, list[Duplicate]]:
        """The clerk brings in a document that did not come through docflow (scanned paper,
        e-mail, another system) with the metadata they type: it becomes an incoming entry of
        `unit_code` (default: the clerk's unit), arrived and waiting to be registered or
        returned like any other, its file's signatures checked by the intake job. Returns the
        entry and the registered entries it looks like (a warning; nothing is refused)."""
        now = self._clock.now()
        spec = check_external(spec, allow_classified=self._limits.allow_classified,
                              today=self._today(now))
        unit_code = unit_code or actor.primary_unit()
        if unit_code is None or Role.CLERK.value not in actor.roles_in(unit_code):
            raise Forbidden("the unit's clerk registers what arrives from outside")
        filename = _clean_filename(filename)
        with spool(stream, limit=self._limits.max_upload_bytes,
                   directory=self._limits.spool_dir) as spooled:
            info = self._pdfs.inspect(spooled.path)
            self._blobs.put_file(spooled.path, spooled.sha256, spooled.size, "application/pdf")
        zone_midnight = datetime.combine(spec.issued_on, time(), self._tz)
        document = Document(
            id=new_id(), unit_code=unit_code, created_by=actor.id, created_at=now,
            doc_type=spec.doc_type, abstract=spec.abstract, urgency=spec.urgency,
            confidentiality=spec.confidentiality, recipients=(unit_code,),
            reply_due=spec.reply_due, status=DocumentStatus.EXTERNAL, workflow="external",
            workflow_version=1, number=symbol_number(spec.symbol), symbol=spec.symbol,
            issued_at=zone_midnight, issued_year=spec.issued_on.year, updated_at=now,
            channel=spec.channel, issuer_name=spec.issuer_name, issuer_code=spec.issuer_code,
            identifier=identifier(spec.issuer_code, spec.issued_on, spec.symbol)
            if spec.issuer_code and spec.symbol else None)
        revision = Revision(
            id=new_id(), document_id=document.id, kind=RevisionKind.MAIN, seq=1,
            filename=filename, sha256=spooled.sha256, size=spooled.size,
            media_type="application/pdf", page_count=info.page_count, created_at=now,
            created_by=actor.id)
        dispatch = Dispatch(id=new_id(), document_id=document.id, created_by=actor.id,
                            created_at=now, target=DispatchTarget(unit_codes=(unit_code,)),
                            status=DispatchStatus.DONE, recipient_count=1,
                            revision_sha256=spooled.sha256)
        receipt = Receipt(id=new_id(), dispatch_id=dispatch.id, document_id=document.id,
                          unit_code=unit_code, status=ReceiptStatus(RECEIPT.initial),
                          delivered_at=now, updated_at=now, workflow_version=RECEIPT.version,
                          deadline=spec.reply_due)
        with self._uow() as uow:
            uow.documents.add(document)
            uow.documents.add_revision(revision)
            uow.dispatches.add(dispatch)
            uow.receipts.add_many([receipt])
            uow.audit.append(self._event(now, Action.DOCUMENT_RECEIVE_EXTERNAL, document, actor,
                                         origin, {
                "channel": spec.channel.value, "issuer": spec.issuer_name,
                "issuer_code": spec.issuer_code, "symbol": spec.symbol,
                "issued_on": spec.issued_on.isoformat(), "abstract": spec.abstract,
                "receipt": receipt.id, "revision": revision.id, "sha256": spooled.sha256}))
            found = self._look_alikes(uow, receipt, document)
            uow.commit()
        self._queue.enqueue(VALIDATE_JOB, dispatch.id)
        return receipt, found

    def duplicates(self, actor: Actor, receipt_id: str) -> list[Duplicate]:
        """Registered entries of the same unit that look like this entry's document."""
        with self._uow() as uow:
            receipt = own_entry(uow, actor, receipt_id)
            document = uow.documents.get(receipt.document_id)
            if document is None:
                raise NotFound("no such document")
            return self._look_alikes(uow, receipt, document)

    @staticmethod
    def _look_alikes(uow: UnitOfWork, receipt: Receipt, document: Document
                     ) -> list[Duplicate]:
        issuer = document.issuer_name
        if issuer is None:
            unit = uow.units.get(document.unit_code)
            issuer = unit.name if unit else document.unit_code
        candidates = uow.receipts.look_alikes(receipt.unit_code, document.identifier,
                                              document.number, receipt.id)
        return duplicates(document.identifier, document.symbol, document.issuer_key, issuer,
                          candidates)

    def register_receipt(self, actor: Actor, receipt_id: str, origin: Origin) -> Receipt:
        """The recipient's clerk registers the arrival: next arrival number of the year."""
        return self._receive(actor, receipt_id, "register", Action.RECEIPT_REGISTER, origin)

    def return_receipt(
        self, actor: Actor, receipt_id: str, reason: str, origin: Origin
    ) -> Receipt:
        """The recipient's clerk returns the document to its sender with a reason."""
        return self._receive(actor, receipt_id, "return", Action.RECEIPT_RETURN, origin, reason)

    def complete_receipt(self, actor: Actor, receipt_id: str, origin: Origin, *,
                         result_document_id: str | None = None) -> Receipt:
        """The entry is handled: by the lead once assigned (with the result document, e.g.
        the report sent back, linked), or by the unit when there was nothing to assign."""
        return self._receive(actor, receipt_id, "complete", Action.RECEIPT_COMPLETE, origin,
                             result_document_id=result_document_id)

    def _receive(
        self,
        actor: Actor,
        receipt_id: str,
        trigger: str,
        action: Action,
        origin: Origin,
        reason: str | None = None,
        result_document_id: str | None = None,
    ) -> Receipt:
        now = self._clock.now()
        with self._uow() as uow:
            receipt = own_entry(uow, actor, receipt_id)
            fired = run_workflow(incoming(receipt), receipt.status, trigger,
                                 receipt_context(uow, actor, receipt, now, reason))
            details: dict[str, object] = {"from": fired.source, "to": fired.target}
            if trigger == "register":
                year = self._today(now).year
                receipt.arrival_number = uow.sequences.next(receipt.unit_code, "incoming",
                                                            str(year))
                receipt.arrival_year = year
                receipt.registered_at, receipt.registered_by = now, actor.id
                details["arrival_number"] = receipt.arrival_number
            elif trigger == "return":
                receipt.return_reason = fired.reason
                details["reason"] = fired.reason
                self._tell_sender(uow, receipt, fired.reason or "", now)
            elif trigger == "complete":
                receipt.completed_at, receipt.completed_by = now, actor.id
                if result_document_id is not None:
                    load_visible(uow, actor, result_document_id)  # NotFound if not theirs
                    receipt.result_document_id = result_document_id
                    details["result_document"] = result_document_id
            receipt.status = ReceiptStatus(fired.target)
            receipt.updated_at = now
            uow.receipts.save(receipt)
            uow.audit.append(AuditEvent(
                at=now, action=action, object_type="receipt", object_id=receipt.id,
                actor_id=actor.id, unit_code=receipt.unit_code, document_id=receipt.document_id,
                origin=origin, details=details, authority=actor.capacity_in(receipt.unit_code)))
            uow.commit()
        return receipt

    # --- reading -----------------------------------------------------------------------------

    def view(self, actor: Actor, document_id: str, origin: Origin) -> Document:
        """The document, if the actor may see it; the view is audited."""
        now = self._clock.now()
        with self._uow() as uow:
            document = load_visible(uow, actor, document_id)
            uow.audit.append(self._event(now, Action.DOCUMENT_VIEW, document, actor, origin, {}))
            uow.commit()
        return document

    def download(
        self, actor: Actor, document_id: str, revision_id: str, origin: Origin,
        *, prefer_url: bool = True,
    ) -> Download:
        """A file of the document, as a presigned URL where the store gives one, else a stream."""
        now = self._clock.now()
        with self._uow() as uow:
            document = load_visible(uow, actor, document_id)
            revision = uow.documents.revision(document.id, revision_id)
            if revision is None:
                raise NotFound("no such file")
            uow.audit.append(self._event(now, Action.DOCUMENT_DOWNLOAD, document, actor, origin,
                                         {"revision": revision.id, "sha256": revision.sha256}))
            uow.commit()
        url = self._blobs.url_for(revision.sha256, revision.filename,
                                  timedelta(minutes=5)) if prefer_url else None
        return Download(revision, url, None if url else self._blobs.open(revision.sha256))

    def sweep_orphan_blobs(self, grace: timedelta = timedelta(hours=1)) -> list[str]:
        """Delete stored blobs no revision points to, older than `grace` (uploads in flight
        write the blob before the row). Returns the digests removed."""
        cutoff = self._clock.now() - grace
        candidates = [d for d, written in self._blobs.inventory() if written < cutoff]
        removed = []
        for start in range(0, len(candidates), 500):
            batch = candidates[start:start + 500]
            with self._uow() as uow:
                used = uow.documents.referenced_blobs(batch)
            for digest in batch:
                if digest not in used:
                    self._blobs.delete(digest)
                    removed.append(digest)
        return removed

    # --- shared ------------------------------------------------------------------------------

    @staticmethod
    def _event(
        at: datetime,
        action: Action,
        document: Document,
        actor: Actor,
        origin: Origin,
        details: Mapping[str, object],
    ) -> AuditEvent:
        # The capacity they acted in: their roles in the document's unit (none: a reader from
        # elsewhere, e.g. a recipient or an auditor).
        return AuditEvent(at=at, action=action, object_type="document", object_id=document.id,
                          actor_id=actor.id, unit_code=document.unit_code,
                          document_id=document.id, origin=origin, details=dict(details),
                          authority=actor.capacity_in(document.unit_code))


def load_visible(
    uow: UnitOfWork, actor: Actor, document_id: str, *, for_update: bool = False
) -> Document:
    """The document, or NotFound when it does not exist or the actor may not see it."""
    document = uow.documents.get(document_id, for_update=for_update)
    if document is None:
        raise NotFound("no such document")
    if document.unit_code in actor.unit_codes:  # its own unit's people: nothing to look up
        return document
    unit = uow.units.get(document.unit_code)
    drafting_path = unit.path if unit else f"{document.unit_code}/"
    recipients = uow.receipts.relevant_paths(document.id, actor.unit_codes,
                                                 actor.audited_paths())
    if not access.can_see(actor, drafting_path, recipients) \
            and not uow.consultations.asks(document.id, actor.id):  # asked for an opinion
        # The same answer as for a document that does not exist: nothing leaks.
        raise NotFound("no such document")
    return document


def own_entry(uow: UnitOfWork, actor: Actor, receipt_id: str) -> Receipt:
    """An incoming entry of one of the actor's units, locked for the change: NotFound when it
    does not exist or cannot be seen, Forbidden when it is visible (to the sender, to an
    auditor) but not theirs to act on."""
    receipt = uow.receipts.get(receipt_id, for_update=True)
    if receipt is None:
        raise NotFound("no such incoming entry")
    load_visible(uow, actor, receipt.document_id)
    if receipt.unit_code not in actor.unit_codes:
        raise Forbidden("only the recipient unit acts on its incoming entry")
    return receipt


def incoming(receipt: Receipt) -> workflows.Definition:
    """The version of the incoming flow the entry started with."""
    return WORKFLOWS.get(RECEIPT.name, receipt.workflow_version)


def receipt_context(uow: UnitOfWork, actor: Actor, receipt: Receipt, at: datetime,
                    reason: str | None = None) -> workflows.Context:
    """The actor's roles toward an incoming entry: in the recipient unit, and as its lead
    when the assignment in force names them. Refuses an entry frozen by a recall."""
    check_not_frozen(receipt.recall)
    roles = dict(access.recipient_roles(actor, receipt.unit_code))
    if receipt.assigned_at is not None:
        current = uow.assignments.current(receipt.id)
        if current is not None and current.lead_id == actor.id:
            roles["lead"] = actor.roles_in(receipt.unit_code)
    return workflows.Context(actor=actor.id, at=at, reason=reason, roles=roles)


def supersede(uow: UnitOfWork, document: Document, actor: Actor, now: datetime,
              origin: Origin) -> None:
    """Once `document` is issued, the one it replaces is marked replaced by it, both ways
    linked, and every unit holding the old one is told (edXML business type 3)."""
    if document.replaces_id is None:
        return
    old = uow.documents.get(document.replaces_id, for_update=True)
    if old is None or old.replaced_by_id is not None:
        return
    old.replaced_by_id, old.replaced_at, old.updated_at = document.id, now, now
    uow.documents.save(old)
    uow.audit.append(AuditEvent(
        at=now, action=Action.DOCUMENT_REPLACE, object_type="document", object_id=old.id,
        actor_id=actor.id, unit_code=old.unit_code, document_id=old.id, origin=origin,
        authority=actor.capacity_in(old.unit_code),
        details={"replaced_by": document.id, "symbol": document.symbol,
                 "replaced_symbol": old.symbol}))
    notify(uow, NoticeKind.REPLACED,
           f"Văn bản {old.symbol} được thay thế bởi {document.symbol}",
           f"replace:{old.id}", now, units=uow.receipts.holders(old.id),
           roles=[Role.CLERK.value, Role.LEADER.value], document_id=old.id)


def _newest_attachments(document: Document) -> list[Revision]:
    """The latest revision of each attachment (the end of its chain of signed revisions)."""
    parents = {r.parent_id for r in document.revisions if r.parent_id}
    return [r for r in document.revisions
            if r.kind is RevisionKind.ATTACHMENT and r.id not in parents]


def signed_on(uow: UnitOfWork, document: Document, revision: Revision
              ) -> list[SignatureKind]:
    """The signatures on `revision` itself: those whose result is it or one of its
    ancestors. A file attached afresh after a return carries none of the old round's."""
    chain, by_id = set(), {r.id: r for r in document.revisions}
    here: Revision | None = revision
    while here is not None and here.id not in chain:
        chain.add(here.id)
        here = by_id.get(here.parent_id) if here.parent_id else None
    return [r.kind for r in uow.signatures.for_document(document.id)
            if r.revision_id in chain]


def run_workflow(
    definition: workflows.Definition, position: str, trigger: str, context: workflows.Context
) -> workflows.Fired:
    """Fire and translate workflow refusals into the domain's error kinds."""
    try:
        return workflows.fire(definition, position, trigger, context)
    except workflows.TransitionNotAvailable as exc:
        raise Conflict(str(exc), state=position) from exc
    except workflows.GuardRefused as exc:
        raise Forbidden(str(exc)) from exc
    except workflows.NotYourTurn as exc:
        raise Conflict(str(exc)) from exc
    except workflows.ReasonRequired as exc:
        raise Invalid(str(exc)) from exc


def _clean_filename(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    base = "".join(ch for ch in base if ch.isprintable())[:200]
    return base or "document.pdf"


