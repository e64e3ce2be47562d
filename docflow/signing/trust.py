"""Trust anchors: configurable sets of CA certificates, never hard-coded.

Production points DOCFLOW_TRUST_ANCHORS at the Government Cipher Committee's public-service CA
and the licensed public CAs its signers use; the embedded default trusts what `docflow pki init`
put in its data folder.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

SUFFIXES = (".pem", ".crt", ".cer", ".der")


class TrustAnchorError(ValueError):
    """A trust-anchor file cannot be read; the message names it."""


def load_anchors(paths: Iterable[Path]) -> list[x509.Certificate]:
    """Every certificate in the given files, and in the certificate files of given folders.

    Missing folders are skipped (an empty trust store is a valid, if strict, configuration);
    a file that is not a certificate is an error, never silently ignored.
    """
    found: dict[bytes, x509.Certificate] = {}
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES)
        elif path.exists():
            files = [path]
        else:
            continue
        for file in files:
            for cert in _read(file):
                found[cert.fingerprint(hashes.SHA256())] = cert
    return list(found.values())


def _read(file: Path) -> list[x509.Certificate]:
    data = file.read_bytes()
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise TrustAnchorError(f"{file}: not a certificate ({exc})") from exc
