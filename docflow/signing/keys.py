"""The service layer's SigningKey port, filled with pyHanko signers and the Decree-30 layout."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.sign import signers
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    InvalidCertificateError,
    PathBuildingError,
    PathValidationError,
)

from docflow.domain.errors import Conflict, Invalid
from docflow.domain.signatures import SignatureKind
from docflow.services.ports import RemotePreparation, SignatureRequest, SignedPdf
from docflow.signing import pades
from docflow.signing import signers as remote
from docflow.signing.pades import DEFAULT_OPTIONS, SigningOptions
from docflow.signing.signers import SignaturePlan
from docflow.signing.trust import load_anchors


@dataclass(frozen=True)
class PadesKey:
    """A pyHanko signer (PKCS#12, PKCS#11 …) with the images its signatures show."""

    signer: signers.Signer
    options: SigningOptions = DEFAULT_OPTIONS
    signature_image: bytes | None = None
    """The person's handwritten signature (blue, transparent PNG), for leader signatures."""
    seal_image: bytes | None = None
    """The organisation's red seal (transparent PNG, actual size), for seal signatures."""

    @property
    def calls_out(self) -> bool:
        return self.options.level != "B-B"  # B-T and above ask a timestamp authority

    def sign(self, pdf: bytes, request: SignatureRequest) -> SignedPdf:
        """Apply the signature `request.kind` asks for, as an incremental update; refused
        when the key's certificate is outside its validity or not for signing (the signature
        would never validate)."""
        cert = self.signer.signing_cert
        assert cert is not None
        # pyHanko stamps the signing time from the system clock: check against the same.
        check_signer_certificate(cert, (), datetime.now(UTC), ())
        try:
            done = self._apply(pdf, request)
        except pades.OutOfOrder as exc:  # the file itself disagrees with the records
            raise Conflict(str(exc)) from exc
        return SignedPdf(pdf=done.pdf, field=done.field_name, certificate_der=cert.dump(),
                         subject=cert.subject.human_friendly)

    def _apply(self, pdf: bytes, request: SignatureRequest) -> pades.Signed:
        if request.kind is SignatureKind.LEADER:
            done = pades.sign_leader(
                pdf, self.signer, authority=request.authority.value if request.authority
                else None, position=request.position, full_name=request.full_name,
                signature_image=request.image or self.signature_image, options=self.options)
        elif request.kind is SignatureKind.SEAL:
            done = pades.sign_seal(pdf, self.signer, seal_image=request.image or self.seal_image,
                                   options=self.options)
        elif request.kind is SignatureKind.INITIAL:
            done = pades.sign_initial(pdf, self.signer, request.reviewer_index,
                                      options=self.options)
        else:
            done = pades.sign_attachment(pdf, self.signer,
                                         number_symbol=request.number_symbol or "",
                                         signed_at=request.signed_at, options=self.options)
        return done


@dataclass(frozen=True)
class RemotePades:
    """The RemoteSigning port: the Decree-30 layout, with the key on a token or a remote
    service. Phase one reserves the signature; phase two checks and embeds the value."""

    signature_image: bytes | None = None
    seal_image: bytes | None = None
    tsa_url: str | None = None
    level: str = "B-B"
    trust_paths: tuple[Path, ...] = ()
    """Trust anchors for B-LT/B-LTA, whose revocation data is gathered for the chain."""

    def prepare(self, pdf: bytes, request: SignatureRequest, certificate_der: bytes,
                chain_der: Sequence[bytes], expires_at: datetime) -> RemotePreparation:
        try:
            cert = asn1_x509.Certificate.load(certificate_der)
            chain = [asn1_x509.Certificate.load(der) for der in chain_der]
            cert.native  # noqa: B018 - parse now, so a bad certificate fails here, clearly
        except (ValueError, TypeError) as exc:
            raise Invalid(f"the certificate is not DER X.509: {exc}") from exc
        check_signer_certificate(cert, chain, request.signed_at, self.trust_paths)
        try:
            prepared = remote.prepare_remote(
                pdf, cert, chain, self._plan(pdf, request),
                tsa_url=self.tsa_url if self.level != "B-B" else None,
                now=request.signed_at, ttl=expires_at - request.signed_at)
        except pades.OutOfOrder as exc:
            raise Conflict(str(exc)) from exc
        state: dict[str, object] = {
            "document_digest": prepared.document_digest.hex(),
            "reserved_region": [prepared.reserved_region_start, prepared.reserved_region_end],
            "data_to_be_signed": base64.b64encode(prepared.data_to_be_signed).decode(),
            "signer_cert": base64.b64encode(prepared.signer_cert).decode(),
            "chain": [base64.b64encode(der).decode() for der in prepared.chain],
            "field": prepared.field_name, "expires_at": prepared.expires_at.isoformat(),
            "tsa_url": prepared.tsa_url, "md_algorithm": prepared.md_algorithm,
        }
        return RemotePreparation(prepared_pdf=prepared.prepared_pdf, state=state,
                                 data_to_be_signed=prepared.data_to_be_signed,
                                 data_to_be_signed_digest=prepared.data_to_be_signed_digest,
                                 field=prepared.field_name)

    def complete(self, prepared_pdf: bytes, state: dict[str, object], signature_value: bytes,
                 now: datetime) -> SignedPdf:
        region = state["reserved_region"]
        assert isinstance(region, list)
        chain = state["chain"]
        assert isinstance(chain, list)
        prepared = remote.PreparedSignature(
            prepared_pdf=prepared_pdf,
            document_digest=bytes.fromhex(str(state["document_digest"])),
            reserved_region_start=int(region[0]), reserved_region_end=int(region[1]),
            data_to_be_signed=base64.b64decode(str(state["data_to_be_signed"])),
            signer_cert=base64.b64decode(str(state["signer_cert"])),
            chain=tuple(base64.b64decode(str(c)) for c in chain),
            field_name=str(state["field"]),
            expires_at=datetime.fromisoformat(str(state["expires_at"])),
            tsa_url=str(state["tsa_url"]) if state.get("tsa_url") else None,
            md_algorithm=str(state["md_algorithm"]))
        try:
            pdf = remote.complete_remote(prepared, signature_value, now=now)
        except remote.SignatureMismatch as exc:
            raise Invalid(str(exc)) from exc
        except remote.PreparationExpired as exc:
            raise Conflict(str(exc)) from exc
        if self.level in ("B-LT", "B-LTA"):
            pdf = pades.add_long_term(pdf, prepared.field_name, signing_options(
                self.level, self.tsa_url, self.trust_paths))
        cert = asn1_x509.Certificate.load(prepared.signer_cert)
        return SignedPdf(pdf=pdf, field=prepared.field_name, certificate_der=prepared.signer_cert,
                         subject=cert.subject.human_friendly)

    def _plan(self, pdf: bytes, request: SignatureRequest) -> SignaturePlan:
        if request.kind is SignatureKind.LEADER:
            return pades.leader_plan(
                pdf, authority=request.authority.value if request.authority else None,
                position=request.position, full_name=request.full_name,
                signature_image=request.image or self.signature_image)
        if request.kind is SignatureKind.SEAL:
            return pades.seal_plan(pdf, seal_image=request.image or self.seal_image)
        if request.kind is SignatureKind.INITIAL:
            return pades.initial_plan(pdf, request.reviewer_index)
        return pades.attachment_plan(pdf, number_symbol=request.number_symbol or "",
                                     signed_at=request.signed_at)


SIGNING_USAGES = frozenset({"digital_signature", "non_repudiation"})


def check_signer_certificate(cert: asn1_x509.Certificate, chain: Sequence[asn1_x509.Certificate],
                             at: datetime, trust_paths: Sequence[Path]) -> None:
    """Refuse, before anything is signed, a certificate whose signature could not be VALID:
    outside its validity period, not meant for signing, or (when trust anchors are configured)
    not issued under one of them. Revocation is left to validation: it needs the network."""
    if not cert.not_valid_before <= at <= cert.not_valid_after:
        raise Invalid(f"the certificate of {cert.subject.human_friendly} is valid from "
                      f"{cert.not_valid_before:%Y-%m-%d} to {cert.not_valid_after:%Y-%m-%d}, "
                      f"not at {at:%Y-%m-%d %H:%M} UTC")
    usage = cert.key_usage_value
    if usage is not None and not set(usage.native) & SIGNING_USAGES:
        raise Invalid(f"the certificate of {cert.subject.human_friendly} is not for signing "
                      f"(key usage: {', '.join(sorted(usage.native))})")
    roots = [asn1_x509.Certificate.load(c.public_bytes(Encoding.DER))
             for c in load_anchors(trust_paths)]
    if not roots:
        return  # no trust store configured: validation will say INDETERMINATE, as it should
    context = ValidationContext(trust_roots=roots, other_certs=list(chain),
                                allow_fetching=False, revocation_mode="soft-fail", moment=at)
    try:
        asyncio.run(CertificateValidator(cert, intermediate_certs=list(chain),
                                         validation_context=context).async_validate_path())
    except PathBuildingError:
        raise Invalid(f"the certificate of {cert.subject.human_friendly} is not issued under "
                      f"a trusted CA (DOCFLOW_TRUST_ANCHORS); send its chain, or ask for its "
                      f"CA to be trusted") from None
    except (PathValidationError, InvalidCertificateError) as exc:
        raise Invalid(f"the certificate of {cert.subject.human_friendly} does not validate: "
                      f"{exc}") from None


def signing_options(level: str, tsa_url: str | None, trust_paths: Sequence[Path]
                    ) -> SigningOptions:
    """The PAdES level a deployment signs at, with what it needs (TSA, trust anchors)."""
    if level == "B-B":
        return DEFAULT_OPTIONS
    roots = tuple(asn1_x509.Certificate.load(c.public_bytes(Encoding.DER))
                  for c in load_anchors(trust_paths)) if level in ("B-LT", "B-LTA") else ()
    try:
        return SigningOptions(level=level, tsa_url=tsa_url,  # type: ignore[arg-type]
                              trust_roots=roots)
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
