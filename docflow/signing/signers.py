"""Signing keys behind pyHanko's `Signer` interface: PKCS#12 files, PKCS#11 tokens, remote signing.

The caller of `docflow.signing.pades` does not know where the key lives. The remote (interrupted)
flow is two plain functions: `prepare_remote` returns the data to be signed and everything needed to
finish later (a frozen, serialisable value), `complete_remote` checks the returned signature value
against the certificate before it embeds it.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import cast

import aiohttp
from asn1crypto import algos, cms, x509
from cryptography import x509 as pyca_x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.config.pkcs11 import TokenCriteria
from pyhanko.keys.internal import (
    translate_pyca_cryptography_cert_to_asn1,
    translate_pyca_cryptography_key_to_asn1,
)
from pyhanko.sign import fields, signers, timestamps
from pyhanko.sign.attributes import CMSAttributeProvider, SignedAttributeProviderSpec
from pyhanko.sign.general import as_signing_certificate_v2, simple_cms_attribute
from pyhanko.sign.pkcs11 import PKCS11Signer, open_pkcs11_session
from pyhanko.sign.signers.pdf_byterange import PreparedByteRangeDigest
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.signers.pdf_signer import PdfTBSDocument
from pyhanko.stamp import BaseStampStyle
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash, process_pss_params

from docflow.signing.pagetree import SigningWriter

DIGEST = "sha256"
REMOTE_TTL = timedelta(minutes=10)


class SigningFailure(Exception):
    """Base class of the signing errors docflow raises itself."""


class SignatureMismatch(SigningFailure):
    """The signature value returned by a token or remote service does not match the data."""


class PreparationExpired(SigningFailure):
    """A prepared (interrupted) signature was completed after its expiry."""


@dataclass(frozen=True)
class SignaturePlan:
    """What to sign and how it looks: built by `docflow.signing.pades`, used by every signer."""

    meta: signers.PdfSignatureMetadata
    stamp_style: BaseStampStyle | None = None
    field_spec: fields.SigFieldSpec | None = None

    @property
    def field_name(self) -> str:
        name = self.meta.field_name
        assert name is not None
        return name


class FrozenCmsParts(signers.Signer):
    """Builds the CMS parts that do not change between signatures once, as parsed DER.

    asn1crypto never clears the "mutated" flag of a value built in Python, so every dump of a
    containing value encodes it again, recursively: the signing-certificate-v2 attribute, the
    signer identifier and the algorithm identifiers were encoded dozens of times per
    signature (~25 ms of CMS building, against 0.6 ms for the RSA operation). Values parsed
    from DER keep their bytes, so each part is built once and re-parsed. The output is
    byte-for-byte what the stock signer makes (tests/unit/test_signers.py).

    docflow's signers make PAdES signatures only, whose signed attributes are the content
    type, the message digest and signing-certificate-v2 (no signing-time: PAdES forbids it).

    With an RSA key, whose signature value has one length, a plain PAdES container (no
    timestamp, no other attributes) is then the same bytes every time but for the message
    digest and the signature value: `CmsTemplate` is that container made once, with the two
    left open; a signature fills them in (a third of a signature's time went on building and
    encoding the container). Same bytes again (tests/unit/test_signing.py).
    """

    _frozen_mechanisms: dict[str | None, algos.SignedDigestAlgorithm]

    async def async_sign(self, data_digest: bytes, digest_algorithm: str, dry_run: bool = False,
                         use_pades: bool = False,
                         timestamper: timestamps.TimeStamper | None = None,
                         signed_attr_settings: PdfCMSSignedAttributes | None = None,
                         is_pdf_sig: bool = True, encap_content_info: object = None
                         ) -> cms.ContentInfo:
        template = None
        # `signed_attr_settings` changes nothing here: the PAdES attributes are ours alone
        # (`signed_attrs`); a timestamp or another unsigned attribute is built as it comes.
        if use_pades and is_pdf_sig and not dry_run and timestamper is None \
                and encap_content_info is None and self.unsigned_attr_prov_spec is None \
                and isinstance(self.signed_attr_prov_spec, _PadesAttributes | None):
            template = await self._template(digest_algorithm)
        if template is not None:
            signature = await self.async_sign_raw(template.signed_attrs(data_digest),
                                                  digest_algorithm)
            if len(signature) == template.signature_size:
                return template.container(data_digest, signature)
            # A device that returned a value of another length: build the container around
            # what it returns, as pyHanko would have (the value is checked when validated).
        return await super().async_sign(
            data_digest, digest_algorithm, dry_run=dry_run, use_pades=use_pades,
            timestamper=timestamper, signed_attr_settings=signed_attr_settings,
            is_pdf_sig=is_pdf_sig, encap_content_info=encap_content_info)

    async def _template(self, digest_algorithm: str) -> CmsTemplate | None:
        templates = self.__dict__.setdefault("_templates", {})
        if digest_algorithm not in templates:
            templates[digest_algorithm] = await CmsTemplate.make(self, digest_algorithm)
        return cast(CmsTemplate | None, templates[digest_algorithm])

    async def async_sign_raw(self, data: bytes, digest_algorithm: str,
                             dry_run: bool = False) -> bytes:
        drawing = _DRAWING.get()
        if drawing is not None and drawing[0] is self:  # `CmsTemplate.make`: sign nothing
            return drawing[1]
        return await super().async_sign_raw(data, digest_algorithm, dry_run)

    def get_signature_mechanism_for_digest(self, digest_algorithm: str | None
                                           ) -> algos.SignedDigestAlgorithm:
        cache = self.__dict__.setdefault("_frozen_mechanisms", {})
        if digest_algorithm not in cache:
            mechanism = super().get_signature_mechanism_for_digest(digest_algorithm)
            cache[digest_algorithm] = algos.SignedDigestAlgorithm.load(mechanism.dump())
        return cache[digest_algorithm]

    async def signed_attrs(self, data_digest: bytes, digest_algorithm: str,
                           attr_settings: PdfCMSSignedAttributes | None = None,
                           content_type: str = "data", use_pades: bool = False,
                           timestamper: timestamps.TimeStamper | None = None,
                           dry_run: bool = False, is_pdf_sig: bool = True
                           ) -> cms.CMSAttributes:
        if use_pades and self.signed_attr_prov_spec is None and self.signing_cert is not None:
            self.signed_attr_prov_spec = _PadesAttributes(self.signing_cert)
        attrs = await super().signed_attrs(
            data_digest, digest_algorithm, attr_settings=attr_settings,
            content_type=content_type, use_pades=use_pades, timestamper=timestamper,
            dry_run=dry_run, is_pdf_sig=is_pdf_sig)
        return cms.CMSAttributes.load(attrs.dump())

    def container_size(self, digest_algorithm: str) -> int:
        """The DER size of this signer's PAdES B-B container, from a dry run, once.

        A validator reads the whole reserved /Contents, padding included, one hex digit at a
        time (pyHanko's reader: ~40% of a validation); reserving what the container needs,
        and a margin, keeps that small."""
        sizes = self.__dict__.setdefault("_container_sizes", {})
        if digest_algorithm not in sizes:
            digest = bytes(hashlib.new(digest_algorithm).digest_size)
            dry = asyncio.run(self.async_sign(digest, digest_algorithm, dry_run=True,
                                              use_pades=True))
            sizes[digest_algorithm] = len(dry.dump())
        return int(sizes[digest_algorithm])

    def signer_info(self, digest_algorithm: str, signed_attrs: cms.CMSAttributes,
                    signature: bytes) -> cms.SignerInfo:
        cert = self.signing_cert
        if digest_algorithm.startswith("shake") or cert is None:
            return super().signer_info(digest_algorithm, signed_attrs, signature)
        sid = self.__dict__.get("_frozen_sid")
        if sid is None:
            sid = self.__dict__["_frozen_sid"] = cms.SignerIdentifier.load(
                cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
                    {"issuer": cert.issuer, "serial_number": cert.serial_number})}).dump())
        return cms.SignerInfo({
            "version": "v1", "sid": sid,
            "digest_algorithm": algos.DigestAlgorithm.load(
                algos.DigestAlgorithm({"algorithm": digest_algorithm}).dump()),
            "signature_algorithm": self.get_signature_mechanism_for_digest(digest_algorithm),
            "signed_attrs": signed_attrs, "signature": signature})


_DRAWING: ContextVar[tuple[FrozenCmsParts, bytes] | None] = ContextVar("_DRAWING", default=None)
"""The signer whose `CmsTemplate` is being made, and the stand-in for its signature value."""


@dataclass(frozen=True)
class CmsTemplate:
    """A PAdES CMS container in bytes, open at the message digest and the signature value."""

    attrs_head: bytes
    attrs_tail: bytes
    """The signed attributes as signed (a DER SET), around the message digest."""
    head: bytes
    middle: bytes
    tail: bytes
    """The container: head + digest + middle + signature + tail."""
    digest_size: int
    signature_size: int

    def signed_attrs(self, digest: bytes) -> bytes:
        """What the key signs for `digest`."""
        if len(digest) != self.digest_size:
            raise ValueError("the digest does not fit the template")
        return self.attrs_head + digest + self.attrs_tail

    def container(self, digest: bytes, signature: bytes) -> cms.ContentInfo:
        if len(digest) != self.digest_size or len(signature) != self.signature_size:
            raise ValueError("the digest or the signature value does not fit the template")
        return cms.ContentInfo.load(self.head + digest + self.middle + signature + self.tail)

    @classmethod
    async def make(cls, signer: FrozenCmsParts, digest_algorithm: str) -> CmsTemplate | None:
        """The signer's template: its own code builds the container once, for a random
        digest and a random signature value standing in (so nothing is signed), which are
        then cut out. None when its signature values vary in length (ECDSA)."""
        cert = signer.signing_cert
        if cert is None or cert.public_key.algorithm != "rsa":
            return None
        digest_size = hashlib.new(digest_algorithm).digest_size
        digest_marker = os.urandom(digest_size)
        signature_marker = os.urandom((cert.public_key.bit_size + 7) // 8)
        # A context variable, not an attribute: the task making the template sees it, and
        # no other thread or task signing with this signer meanwhile does.
        drawing = _DRAWING.set((signer, signature_marker))
        try:
            made = await signers.Signer.async_sign(signer, digest_marker, digest_algorithm,
                                                   use_pades=True)
        finally:
            _DRAWING.reset(drawing)
        der = made.dump()
        signer_info = made["content"]["signer_infos"][0]
        attrs = b"\x31" + signer_info["signed_attrs"].dump()[1:]  # [0] IMPLICIT -> SET
        if der.count(digest_marker) != 1 or der.count(signature_marker) != 1 \
                or attrs.count(digest_marker) != 1:
            return None
        d, sig = der.index(digest_marker), der.index(signature_marker)
        a = attrs.index(digest_marker)
        if sig < d:
            return None
        return cls(attrs_head=attrs[:a], attrs_tail=attrs[a + digest_size:],
                   head=der[:d], middle=der[d + digest_size:sig],
                   tail=der[sig + len(signature_marker):], digest_size=digest_size,
                   signature_size=len(signature_marker))


class _FixedAttribute(CMSAttributeProvider):
    def __init__(self, attribute: cms.CMSAttribute) -> None:
        self.attribute_type = attribute["type"].native
        self._attribute = attribute

    async def get_attribute(self, dry_run: bool = False) -> cms.CMSAttribute:
        return self._attribute


class _PadesAttributes(SignedAttributeProviderSpec):
    """PAdES signed attributes with signing-certificate-v2 encoded once per certificate."""

    def __init__(self, signing_cert: x509.Certificate) -> None:
        value = simple_cms_attribute(  # type: ignore[no-untyped-call]
            "signing_certificate_v2", as_signing_certificate_v2(signing_cert))
        self._certificate_v2 = cms.CMSAttribute.load(value.dump())

    def signed_attr_providers(self, data_digest: bytes, digest_algorithm: str
                              ) -> Iterator[CMSAttributeProvider]:
        yield _FixedAttribute(self._certificate_v2)


class LoadedKeySigner(FrozenCmsParts, signers.SimpleSigner):
    """A `SimpleSigner` that keeps the decoded `cryptography` key.

    The stock `SimpleSigner.sign_raw` re-imports the key from DER on every signature, and
    `cryptography` re-checks an RSA private key on every import (tens of milliseconds for
    RSA-2048). This one imports the key once, at load time.
    """

    def __init__(self, signing_cert: x509.Certificate,
                 private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
                 cert_registry: SimpleCertificateStore, *, prefer_pss: bool = False) -> None:
        super().__init__(signing_cert=signing_cert,
                         signing_key=translate_pyca_cryptography_key_to_asn1(private_key),
                         cert_registry=cert_registry, prefer_pss=prefer_pss)
        self._private_key = private_key

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
        algorithm = mechanism["algorithm"].native
        key = self._private_key
        if isinstance(key, rsa.RSAPrivateKey):
            if algorithm in ("rsassa_pkcs1v15", "sha256_rsa", "sha384_rsa", "sha512_rsa"):
                return key.sign(data, padding.PKCS1v15(),
                                get_pyca_cryptography_hash(digest_algorithm))
            if algorithm == "rsassa_pss":
                pss, hash_algo = process_pss_params(mechanism["parameters"])
                return key.sign(data, pss, hash_algo)
        elif algorithm.endswith("ecdsa"):
            return key.sign(data, ec.ECDSA(get_pyca_cryptography_hash(digest_algorithm)))
        return super().sign_raw(data, digest_algorithm)


def load_pkcs12_data(data: bytes, passphrase: bytes | None, *,
                     extra_certs: Iterable[x509.Certificate] = ()) -> LoadedKeySigner:
    try:
        key, cert, others = pkcs12.load_key_and_certificates(data, passphrase)
    except ValueError as exc:
        raise ValueError("could not read the PKCS#12 data (wrong passphrase?)") from exc
    if cert is None or not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError("the PKCS#12 data must hold an RSA or EC key and its certificate")
    registry = _store(
        [translate_pyca_cryptography_cert_to_asn1(c) for c in others] + list(extra_certs))
    return LoadedKeySigner(translate_pyca_cryptography_cert_to_asn1(cert), key, registry)


def load_pkcs12(path: Path, passphrase: bytes | None, *,
                extra_certs: Iterable[x509.Certificate] = ()) -> LoadedKeySigner:
    """A signer for a PKCS#12 (.p12/.pfx) file; the key is decoded once, here."""
    return load_pkcs12_data(Path(path).read_bytes(), passphrase, extra_certs=extra_certs)


class TokenSigner(FrozenCmsParts, PKCS11Signer):
    """pyHanko's PKCS#11 signer with the CMS parts built once per session."""


class _Placeholder(FrozenCmsParts, signers.ExternalSigner):
    """The remote flow's signer: the value comes from elsewhere."""


@contextmanager
def open_pkcs11_signer(module: str, token_label: str, pin: str, key_label: str,
                       cert_label: str | None = None, *,
                       ca_chain: Iterable[x509.Certificate] = ()) -> Iterator[TokenSigner]:
    """A signer for a key on a PKCS#11 token (USB token, HSM), open for the block's duration.

    The token is chosen by label: SoftHSM2 moves tokens to random slot numbers.
    """
    with open_pkcs11_session(module, token_criteria=TokenCriteria(label=token_label),
                             user_pin=pin) as session:
        yield TokenSigner(session, key_label=key_label, cert_label=cert_label or key_label,
                          ca_chain=list(ca_chain))


# --- remote (interrupted) signing -----------------------------------------------------------


@dataclass(frozen=True)
class PreparedSignature:
    """Phase 1 of a remote signature: plain bytes and numbers, safe to store between requests.

    `data_to_be_signed` is the DER of the CMS signed attributes; the token signs it (RSA
    PKCS#1 v1.5 or ECDSA, with SHA-256). A token that only signs hashes gets
    `data_to_be_signed_digest`.
    """

    prepared_pdf: bytes
    document_digest: bytes
    reserved_region_start: int
    reserved_region_end: int
    data_to_be_signed: bytes
    signer_cert: bytes
    chain: tuple[bytes, ...]
    field_name: str
    expires_at: datetime
    tsa_url: str | None = None
    md_algorithm: str = DIGEST

    @property
    def data_to_be_signed_digest(self) -> bytes:
        return hashlib.new(self.md_algorithm, self.data_to_be_signed).digest()


def prepare_remote(pdf: bytes, cert: x509.Certificate, chain: Iterable[x509.Certificate],
                   meta: SignaturePlan | signers.PdfSignatureMetadata, *,
                   tsa_url: str | None = None, now: datetime | None = None,
                   ttl: timedelta = REMOTE_TTL) -> PreparedSignature:
    """Reserve the signature in an incremental update and compute the data to be signed.

    B-B and B-T only; extend the completed file to B-LT/B-LTA with `docflow.signing.pades`.
    """
    plan = meta if isinstance(meta, SignaturePlan) else SignaturePlan(meta)
    if plan.meta.embed_validation_info or plan.meta.use_pades_lta:
        raise ValueError("the remote flow signs at B-B or B-T; add B-LT/B-LTA afterwards")
    chain = list(chain)
    started = now or datetime.now(UTC)
    return asyncio.run(_prepare(pdf, cert, chain, plan, tsa_url, started + ttl))


async def _prepare(pdf: bytes, cert: x509.Certificate, chain: list[x509.Certificate],
                   plan: SignaturePlan, tsa_url: str | None,
                   expires_at: datetime) -> PreparedSignature:
    placeholder = _Placeholder(cert, _store(chain),
                                         signature_value=_signature_size(cert))
    async with aiohttp.ClientSession() as session:
        timestamper = timestamps.HTTPTimeStamper(tsa_url, session=session) if tsa_url else None
        pdf_signer = signers.PdfSigner(plan.meta, placeholder, timestamper=timestamper,
                                       stamp_style=plan.stamp_style,
                                       new_field_spec=plan.field_spec)
        prepared, _tbs, output = await pdf_signer.async_digest_doc_for_signing(
            SigningWriter(BytesIO(pdf), strict=False))
        attrs = await placeholder.signed_attrs(prepared.document_digest, DIGEST, use_pades=True)
    assert isinstance(output, BytesIO)
    return PreparedSignature(
        prepared_pdf=output.getvalue(), document_digest=prepared.document_digest,
        reserved_region_start=prepared.reserved_region_start,
        reserved_region_end=prepared.reserved_region_end, data_to_be_signed=attrs.dump(),
        signer_cert=cert.dump(), chain=tuple(c.dump() for c in chain),
        field_name=plan.field_name, expires_at=expires_at, tsa_url=tsa_url)


def complete_remote(prepared: PreparedSignature, signature_value: bytes, *,
                    now: datetime | None = None) -> bytes:
    """Check `signature_value` against the signer's certificate, then embed it: the signed PDF."""
    if (now or datetime.now(UTC)) > prepared.expires_at:
        raise PreparationExpired(
            f"the prepared signature for field {prepared.field_name!r} expired at "
            f"{prepared.expires_at.isoformat()}; prepare it again")
    verify_signature_value(prepared.signer_cert, prepared.data_to_be_signed, signature_value,
                           prepared.md_algorithm)
    return asyncio.run(_complete(prepared, signature_value))


def verify_signature_value(cert_der: bytes, data: bytes, signature_value: bytes,
                           md_algorithm: str = DIGEST) -> None:
    public_key = pyca_x509.load_der_x509_certificate(cert_der).public_key()
    hash_algo = get_pyca_cryptography_hash(md_algorithm)
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature_value, data, padding.PKCS1v15(), hash_algo)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature_value, data, ec.ECDSA(hash_algo))
        else:
            raise SignatureMismatch(f"unsupported key type {type(public_key).__name__}")
    except InvalidSignature:
        raise SignatureMismatch(
            "the signature value does not verify with the signer's certificate over the "
            "prepared signed attributes (wrong key, wrong data, or a corrupted value)") from None


async def _complete(prepared: PreparedSignature, signature_value: bytes) -> bytes:
    cert = x509.Certificate.load(prepared.signer_cert)
    chain = [x509.Certificate.load(der) for der in prepared.chain]
    external = _Placeholder(cert, _store(chain),
                                      signature_value=signature_value)
    async with aiohttp.ClientSession() as session:
        timestamper = (timestamps.HTTPTimeStamper(prepared.tsa_url, session=session)
                       if prepared.tsa_url else None)
        cms_obj = await external.async_sign_prescribed_attributes(
            prepared.md_algorithm, signed_attrs=cms.CMSAttributes.load(prepared.data_to_be_signed),
            timestamper=timestamper)
    buf = BytesIO(prepared.prepared_pdf)  # readable, writable and seekable: see TOOLING.md
    await PdfTBSDocument.async_finish_signing(
        buf, PreparedByteRangeDigest(prepared.document_digest, prepared.reserved_region_start,
                                     prepared.reserved_region_end), cms_obj)
    return buf.getvalue()


def _store(certs: Iterable[x509.Certificate]) -> SimpleCertificateStore:
    store: SimpleCertificateStore = SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
        list(certs))
    return store


def _signature_size(cert: x509.Certificate) -> int:
    public_key = pyca_x509.load_der_x509_certificate(cert.dump()).public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        return (public_key.key_size + 7) // 8
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return 2 * ((public_key.key_size + 7) // 8) + 9  # DER: SEQUENCE of two INTEGERs
    raise ValueError(f"unsupported key type {type(public_key).__name__}")


def sign_data_locally(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """What a token does with `PreparedSignature.data_to_be_signed` (for tests and demos)."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data, ec.ECDSA(hashes.SHA256()))
