"""The service layer's SigningKey port, filled with pyHanko signers and the Decree-30 layout."""

from __future__ import annotations

from dataclasses import dataclass

from pyhanko.sign import signers

from docflow.domain.errors import Conflict
from docflow.domain.signatures import SignatureKind
from docflow.services.ports import SignatureRequest, SignedPdf
from docflow.signing import pades
from docflow.signing.pades import DEFAULT_OPTIONS, SigningOptions


@dataclass(frozen=True)
class PadesKey:
    """A pyHanko signer (PKCS#12, PKCS#11 …) with the images its signatures show."""

    signer: signers.Signer
    options: SigningOptions = DEFAULT_OPTIONS
    signature_image: bytes | None = None
    """The person's handwritten signature (blue, transparent PNG), for leader signatures."""
    seal_image: bytes | None = None
    """The organisation's red seal (transparent PNG, actual size), for seal signatures."""

    def sign(self, pdf: bytes, request: SignatureRequest) -> SignedPdf:
        """Apply the signature `request.kind` asks for, as an incremental update."""
        try:
            done = self._apply(pdf, request)
        except pades.OutOfOrder as exc:  # the file itself disagrees with the records
            raise Conflict(str(exc)) from exc
        cert = self.signer.signing_cert
        assert cert is not None
        return SignedPdf(pdf=done.pdf, field=done.field_name, certificate_der=cert.dump(),
                         subject=cert.subject.human_friendly)

    def _apply(self, pdf: bytes, request: SignatureRequest) -> pades.Signed:
        if request.kind is SignatureKind.LEADER:
            done = pades.sign_leader(
                pdf, self.signer, authority=request.authority.value if request.authority
                else None, position=request.position, full_name=request.full_name,
                signature_image=self.signature_image, options=self.options)
        elif request.kind is SignatureKind.SEAL:
            done = pades.sign_seal(pdf, self.signer, seal_image=self.seal_image,
                                   options=self.options)
        elif request.kind is SignatureKind.INITIAL:
            done = pades.sign_initial(pdf, self.signer, request.reviewer_index,
                                      options=self.options)
        else:
            done = pades.sign_attachment(pdf, self.signer,
                                         number_symbol=request.number_symbol or "",
                                         signed_at=request.signed_at, options=self.options)
        return done
