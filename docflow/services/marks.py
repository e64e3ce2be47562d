"""Signature images and seal images: what a leader's signature and a unit's seal show.

Decree 30 places the signer's handwritten signature (blue) and the organisation's seal (red)
in the signature block; each is a transparent PNG uploaded once and kept as a blob, and every
signature made after shows it. A person sets their own; an administrator of a unit (or of a
unit above it) sets the unit's seal image.
"""

from __future__ import annotations

import hashlib

from docflow.domain.audit import Action, AuditEvent, Origin
from docflow.domain.errors import Forbidden, NotFound
from docflow.domain.org import Actor
from docflow.services.ports import BlobStore, Clock, MarkCheck, UnitOfWorkFactory


class MarkService:
    """Upload, read and audit signature and seal images."""

    def __init__(self, uow: UnitOfWorkFactory, blobs: BlobStore, check: MarkCheck,
                 clock: Clock) -> None:
        self._uow = uow
        self._blobs = blobs
        self._check = check
        self._clock = clock

    def set_signature_image(self, actor: Actor, data: bytes, origin: Origin) -> str:
        """The actor's own handwritten signature, from now on; its sha256."""
        digest = self._store(data)
        with self._uow() as uow:
            uow.users.set_signature_image(actor.id, digest)
            uow.audit.append(AuditEvent(
                at=self._clock.now(), action=Action.USER_SIGNATURE_IMAGE, object_type="user",
                object_id=actor.id, actor_id=actor.id, unit_code=None, document_id=None,
                origin=origin, details={"sha256": digest}))
            uow.commit()
        return digest

    def set_seal_image(self, actor: Actor, unit_code: str, data: bytes, origin: Origin) -> str:
        """The unit's seal image, from now on (administrators of the unit or above); its
        sha256."""
        digest = self._store(data)
        with self._uow() as uow:
            unit = uow.units.get(unit_code)
            if unit is None:
                raise NotFound.fmt("no unit '%(unit)s'", {"unit": unit_code})
            if not actor.administers(unit.path):
                raise Forbidden("a unit's seal image is set by an administrator of the unit "
                                "or of a unit above it")
            uow.units.set_seal_image(unit_code, digest)
            uow.audit.append(AuditEvent(
                at=self._clock.now(), action=Action.UNIT_SEAL_IMAGE, object_type="unit",
                object_id=unit_code, actor_id=actor.id, unit_code=unit_code, document_id=None,
                origin=origin, details={"sha256": digest}, authority="admin"))
            uow.commit()
        return digest

    def signature_image(self, actor: Actor) -> bytes | None:
        """The actor's own signature image, if they uploaded one."""
        with self._uow() as uow:
            user = uow.users.get(actor.id)
        return self._read(user.signature_image if user else None)

    def seal_image(self, actor: Actor, unit_code: str) -> bytes | None:
        """A unit's seal image, for the unit's own people and its administrators."""
        with self._uow() as uow:
            unit = uow.units.get(unit_code)
        if unit is None or not (unit_code in actor.unit_codes or actor.administers(unit.path)):
            raise NotFound.fmt("no unit '%(unit)s'", {"unit": unit_code})
        return self._read(unit.seal_image)

    def _read(self, sha256: str | None) -> bytes | None:
        if sha256 is None:
            return None
        with self._blobs.open(sha256) as stream:
            return stream.read()

    def _store(self, data: bytes) -> str:
        self._check.check(data)
        digest = hashlib.sha256(data).hexdigest()
        self._blobs.put_bytes(data, digest, "image/png")
        return digest
