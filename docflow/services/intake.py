"""Intake: every signed document arriving at a unit is validated, and the report stays with
its incoming entries, where the clerk reads it before registering or returning the document."""

from __future__ import annotations

from docflow.domain.audit import Origin
from docflow.domain.org import Actor
from docflow.domain.routing import Receipt
from docflow.domain.signatures import ValidationOutcome
from docflow.services.documents import DocumentService, load_visible
from docflow.services.ports import BlobStore, Clock, SignatureValidator, UnitOfWorkFactory


class IntakeService:
    """Validation of dispatched files, once per file, and returns that cite the report."""

    def __init__(self, uow: UnitOfWorkFactory, blobs: BlobStore, validator: SignatureValidator,
                 clock: Clock, documents: DocumentService) -> None:
        self._uow = uow
        self._blobs = blobs
        self._validator = validator
        self._clock = clock
        self._documents = documents

    def validate_dispatch(self, dispatch_id: str) -> ValidationOutcome | None:
        """The job: validate the file a dispatch sent, unless it was validated already.
        Safe to run twice."""
        with self._uow() as uow:
            dispatch = uow.dispatches.get(dispatch_id)
            if dispatch is None or dispatch.revision_sha256 is None:
                return None
            known = uow.validations.get(dispatch.revision_sha256)
        return known if known is not None else self._validated(dispatch.revision_sha256)

    def file_report(self, actor: Actor, document_id: str) -> ValidationOutcome | None:
        """The report of a document's current main file, for anyone who may see it: kept
        from intake, else validated now and kept (None: no main file yet)."""
        with self._uow() as uow:
            main = load_visible(uow, actor, document_id).main_revision()
            if main is None:
                return None
            known = uow.validations.get(main.sha256)
        return known if known is not None else self._validated(main.sha256)

    def _validated(self, sha256: str) -> ValidationOutcome:
        """Validate the file `sha256` outside any transaction, then keep its report (a file's
        report does not change: the first one kept stands)."""
        with self._blobs.open(sha256) as stream:
            verdict, report = self._validator.validate(stream.read())
        outcome = ValidationOutcome(sha256=sha256, verdict=verdict, report=report,
                                    validated_at=self._clock.now())
        with self._uow() as uow:
            uow.validations.put(outcome)
            uow.commit()
        return outcome

    def report(self, actor: Actor, receipt_id: str) -> ValidationOutcome | None:
        """The report of the file behind an incoming entry the actor may see (None: pending)."""
        receipt = self._documents.receipt(actor, receipt_id)
        with self._uow() as uow:
            dispatch = uow.dispatches.get(receipt.dispatch_id)
            if dispatch is None or dispatch.revision_sha256 is None:
                return None
            return uow.validations.get(dispatch.revision_sha256)

    def return_with_report(self, actor: Actor, receipt_id: str, reason: str, origin: Origin
                           ) -> Receipt:
        """Return the document to its sender, the validation report's verdict cited."""
        outcome = self.report(actor, receipt_id)
        if outcome is not None:
            reason = f"{reason.strip()} — {outcome.summary()}".strip(" —")
        return self._documents.return_receipt(actor, receipt_id, reason, origin)
