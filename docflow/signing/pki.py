"""An internal PKI for demos and tests: a clearly labelled CA, a leader and a seal key, a CRL.

Made with `cryptography` only. The CA is not a public trust service: its subject says so, and a
relying party trusts it only by adding `ca.pem` to its trust anchors. Production keys come from
the Government Cipher Committee's public-service CA or licensed public CAs, never from here.
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

CA_COMMON_NAME = "docflow internal CA — NOT A PUBLIC TRUST SERVICE"
CA_VALIDITY = timedelta(days=10 * 365)
SUBJECT_VALIDITY = timedelta(days=3 * 365)
CRL_VALIDITY = timedelta(days=30)
KEY_BITS = 2048  # RSA-2048: what pdfsig (NSS) and every PDF reader verify

CA_CERT = "ca.pem"
CA_KEY = "ca.key.pem"
CRL = "ca.crl"
LEADER_P12 = "leader.p12"
SEAL_P12 = "seal.p12"
ALL_FILES = (CA_CERT, CA_KEY, CRL, LEADER_P12, SEAL_P12)
PASSPHRASE = "passphrase"


@dataclass(frozen=True)
class PkiFiles:
    """Where `init_pki` put things. The key files are encrypted with the passphrase."""

    directory: Path
    ca_cert: Path
    ca_key: Path
    crl: Path
    leader_p12: Path
    seal_p12: Path

    @classmethod
    def under(cls, directory: Path) -> PkiFiles:
        return cls(directory=directory, ca_cert=directory / CA_CERT, ca_key=directory / CA_KEY,
                   crl=directory / CRL, leader_p12=directory / LEADER_P12,
                   seal_p12=directory / SEAL_P12)


@dataclass(frozen=True)
class Authority:
    """A loaded CA: enough to issue certificates and CRLs."""

    cert: x509.Certificate
    key: rsa.RSAPrivateKey


def init_pki(directory: Path, *, force: bool = False, passphrase: bytes, now: datetime,
             organisation: str = "docflow demo organisation",
             leader_name: str = "docflow demo leader",
             crl_url: str | None = None) -> PkiFiles:
    """Create the CA, the leader's and the organisation seal's PKCS#12 files and an empty CRL.

    Refuses (FileExistsError) when any of the files exists, unless `force`.
    """
    if not passphrase:
        raise ValueError("a non-empty passphrase is required to protect the private keys")
    if now.tzinfo is None:
        raise ValueError("`now` must be timezone-aware")
    files = PkiFiles.under(directory)
    existing = [name for name in ALL_FILES if (directory / name).exists()]
    if existing and not force:
        raise FileExistsError(
            f"PKI files already exist in {directory}: {', '.join(existing)}; "
            "refusing to overwrite them (use force to replace the whole PKI)")
    directory.mkdir(parents=True, exist_ok=True)

    ca = new_authority(now=now, organisation=organisation)
    encryption = serialization.BestAvailableEncryption(passphrase)
    leader_key = _new_key()
    leader_cert = issue_certificate(ca, leader_key.public_key(), common_name=leader_name,
                                    organisation=organisation, now=now, crl_url=crl_url)
    seal_key = _new_key()
    seal_cert = issue_certificate(ca, seal_key.public_key(), common_name=organisation,
                                  organisation=organisation, now=now, crl_url=crl_url)

    _write(files.ca_cert, ca.cert.public_bytes(serialization.Encoding.PEM), private=False)
    _write(files.ca_key, ca.key.private_bytes(serialization.Encoding.PEM,
                                              serialization.PrivateFormat.PKCS8, encryption),
           private=True)
    _write(files.crl, issue_crl(ca, now=now).public_bytes(serialization.Encoding.DER),
           private=False)
    for path, key, cert, label in ((files.leader_p12, leader_key, leader_cert, b"leader"),
                                   (files.seal_p12, seal_key, seal_cert, b"seal")):
        _write(path, pkcs12.serialize_key_and_certificates(label, key, cert, [ca.cert],
                                                           encryption), private=True)
    return files


def new_authority(*, now: datetime, organisation: str = "docflow demo organisation") -> Authority:
    key = _new_key()
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME,
                           "internal use only, not a public trust service"),
    ])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256()))
    return Authority(cert=cert, key=key)


def load_authority(files: PkiFiles, passphrase: bytes) -> Authority:
    cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    key = serialization.load_pem_private_key(files.ca_key.read_bytes(), passphrase)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{files.ca_key} does not hold an RSA key")
    return Authority(cert=cert, key=key)


def issue_certificate(ca: Authority, public_key: rsa.RSAPublicKey, *, common_name: str,
                      organisation: str, now: datetime,
                      crl_url: str | None = None,
                      validity: timedelta = SUBJECT_VALIDITY) -> x509.Certificate:
    """A signing certificate: key usage digitalSignature + nonRepudiation, not a CA."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation)])
    builder = (x509.CertificateBuilder()
               .subject_name(subject).issuer_name(ca.cert.subject).public_key(public_key)
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + validity)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(
                   digital_signature=True, content_commitment=True, key_encipherment=False,
                   data_encipherment=False, key_agreement=False, key_cert_sign=False,
                   crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key),
                              critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   ca.key.public_key()), critical=False))
    if crl_url:
        builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(crl_url)], relative_name=None,
            reasons=None, crl_issuer=None)]), critical=False)
    return builder.sign(ca.key, hashes.SHA256())


def issue_crl(ca: Authority, *, now: datetime,
              revoked_serials: tuple[int, ...] = ()) -> x509.CertificateRevocationList:
    builder = (x509.CertificateRevocationListBuilder()
               .issuer_name(ca.cert.subject)
               .last_update(now).next_update(now + CRL_VALIDITY)
               .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   ca.key.public_key()), critical=False))
    for serial in revoked_serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build())
    return builder.sign(ca.key, hashes.SHA256())


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)


def _write(path: Path, data: bytes, *, private: bool) -> None:
    """Write through a temporary name, so a crash never leaves half a key file behind."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    tmp.replace(path)


@dataclass(frozen=True)
class LocalPki:
    """An internal PKI in a data folder, with the passphrase that opens its keys."""

    files: PkiFiles
    passphrase: bytes
    trusted_copy: Path | None
    """Where the CA was added to the trust anchors (None: a trust file is configured)."""


def open_local_pki(folder: Path) -> LocalPki | None:
    """The PKI `init_local_pki` made in `folder`, or None when there is none."""
    files = PkiFiles.under(folder)
    secret = folder / PASSPHRASE
    if not (secret.exists() and files.leader_p12.exists() and files.seal_p12.exists()):
        return None
    return LocalPki(files, secret.read_text().strip().encode(), None)


def init_local_pki(folder: Path, trust_dir: Path, *, force: bool, now: datetime,
                   organisation: str, leader_name: str) -> LocalPki:
    """`init_pki` with a generated passphrase kept beside the keys (mode 600), and the CA
    copied into `trust_dir` so this deployment's validation trusts it."""
    passphrase = secrets.token_urlsafe(24).encode()
    files = init_pki(folder, force=force, passphrase=passphrase, now=now,
                     organisation=organisation, leader_name=leader_name)
    _write(folder / PASSPHRASE, passphrase, private=True)
    trusted: Path | None = None
    if not trust_dir.suffix:  # a folder; a configured trust *file* is the operator's to edit
        trust_dir.mkdir(parents=True, exist_ok=True)
        trusted = trust_dir / "docflow-internal-ca.pem"
        shutil.copyfile(files.ca_cert, trusted)
    return LocalPki(files, passphrase, trusted)
