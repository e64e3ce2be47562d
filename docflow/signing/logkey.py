"""The audit log's signing key (Ed25519) and the RFC 3161 stamp on its tree heads.

A dedicated key, never the organisation's seal: the seal is a legal signature on documents,
this one only vouches for the log's state, and can be rotated without touching either.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)


class LogKeyError(ValueError):
    """The log key file is missing, unreadable or not an Ed25519 key."""


def key_id_of(public_pem: bytes) -> bytes:
    """SHA-256 of the key's SubjectPublicKeyInfo: the log's id and the key's fingerprint."""
    public = serialization.load_pem_public_key(public_pem)
    return hashlib.sha256(public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).digest()


def verify(public_pem: bytes, data: bytes, signature: bytes) -> bool:
    """True when `signature` is the Ed25519 signature of `data` by this key."""
    public = serialization.load_pem_public_key(public_pem)
    if not isinstance(public, Ed25519PublicKey):
        raise LogKeyError("the log key is not an Ed25519 key")
    try:
        public.verify(signature, data)
    except InvalidSignature:
        return False
    return True


class LogKey:
    """Signs tree heads (`TreeHeadSigner`)."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self._public_pem = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        self._key_id = key_id_of(self._public_pem)

    @classmethod
    def generate(cls, path: Path) -> LogKey:
        """A new key, written to `path` (PKCS#8 PEM, readable by its owner only); refuses to
        overwrite one."""
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        return cls(private)

    @classmethod
    def load(cls, path: Path) -> LogKey:
        try:
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise LogKeyError(f"cannot read the audit log key {path}: {exc}") from exc
        if not isinstance(private, Ed25519PrivateKey):
            raise LogKeyError(f"{path} is not an Ed25519 key")
        return cls(private)

    @classmethod
    def at(cls, path: Path, *, create: bool) -> LogKey:
        """The key in `path`; made there first when `create` and it does not exist."""
        if create and not path.exists():
            try:
                return cls.generate(path)
            except FileExistsError:
                pass  # another process made it first: use theirs
        return cls.load(path)

    @property
    def key_id(self) -> bytes:
        return self._key_id

    def sign(self, data: bytes) -> bytes:
        return self._private.sign(data)

    def public_pem(self) -> bytes:
        return self._public_pem


class TsaTimestamper:
    """RFC 3161 tokens from the configured TSA (pyHanko's client)."""

    def __init__(self, url: str) -> None:
        self._url = url

    def stamp(self, data: bytes) -> bytes:
        from pyhanko.sign import timestamps

        digest = hashlib.sha256(data).digest()
        token = asyncio.run(timestamps.HTTPTimeStamper(self._url).async_timestamp(
            digest, "sha256"))
        return bytes(token.dump())


@dataclass(frozen=True)
class StampCheck:
    """What a tree head's RFC 3161 token proves of it."""

    over_signature: bool
    """Its message imprint is the hash (SHA-2) of the head's signature."""
    intact: bool
    """The TSA's signature on it verifies with the certificate it names."""
    trusted: bool | None
    """Its certificate chains to one of the anchors given, at the time it states; None when
    no anchor was given."""
    time: datetime | None
    tsa: str
    """The TSA certificate's subject, as its holder names it."""


_IMPRINT_HASHES = frozenset({"sha256", "sha384", "sha512"})


def check_stamp(token: bytes, signature: bytes, anchors: Sequence[bytes] = ()) -> StampCheck:
    """Check `token` (DER) as a timestamp of `signature`: pyHanko's check of a timestamp
    token's CMS signature, its certificate's path to `anchors` (DER certificates) validated
    at the stated time: an auditor asks whether the TSA was good when it stamped, long after
    its certificate may have expired. No fetching: revocation is not looked up."""
    from asn1crypto import cms, tsp
    from asn1crypto import x509 as asn1_x509
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
    from pyhanko_certvalidator import ValidationContext
    from pyhanko_certvalidator.registry import SimpleTrustManager

    try:
        signed_data = cms.ContentInfo.load(token)["content"]
        info = signed_data["encap_content_info"]["content"].parsed
        if not isinstance(info, tsp.TSTInfo):
            raise ValueError("not a timestamp token")
        imprint = info["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        over = algorithm in _IMPRINT_HASHES and imprint["hashed_message"].native == (
            hashlib.new(algorithm, signature).digest())
        time = info["gen_time"].native
    except (ValueError, TypeError, KeyError):
        return StampCheck(over_signature=False, intact=False, trusted=None, time=None, tsa="")
    try:
        roots = [asn1_x509.Certificate.load(a) for a in anchors]
        context = ValidationContext(
            trust_manager=SimpleTrustManager.build(trust_roots=roots), moment=time,
            allow_fetching=False, revocation_mode="soft-fail")
        status = asyncio.run(validate_tst_signed_data(
            signed_data, context, lambda _algorithm: imprint["hashed_message"].native))
    except (ValueError, TypeError, KeyError):  # pyHanko's: a disallowed algorithm, no cert
        return StampCheck(over_signature=over, intact=False, trusted=None, time=time, tsa="")
    cert = status.get("signing_cert")
    trusted = None
    if anchors:
        trusted = status.get("trust_problem_indic") is None and (
            status.get("validation_path") is not None)
    return StampCheck(over_signature=over,
                      intact=bool(status.get("intact") and status.get("valid")),
                      trusted=trusted, time=time,
                      tsa=cert.subject.human_friendly if cert is not None else "")


class Ed25519Verifier:
    """Checks tree heads signed by another log's key (`TreeHeadVerifier`)."""

    def key_id(self, public_pem: bytes) -> bytes:
        try:
            return key_id_of(public_pem)
        except (ValueError, TypeError) as exc:
            raise ValueError(str(exc)) from exc

    def verify(self, public_pem: bytes, data: bytes, signature: bytes) -> bool:
        try:
            return verify(public_pem, data, signature)
        except (LogKeyError, ValueError, TypeError):
            return False
