"""Real signing keys for tests that take a document through the outgoing flow: a leader's and
a seal's PKCS#12 key under a throwaway internal CA, made once per test process."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from cryptography import x509

from docflow.signing.appearance import demo_seal_png, demo_signature_png
from docflow.signing.keys import PadesKey
from docflow.signing.pki import init_pki
from docflow.signing.signers import load_pkcs12

PASS = b"test-passphrase"


@dataclass(frozen=True)
class Keys:
    leader: PadesKey
    seal: PadesKey
    ca: x509.Certificate


@cache
def test_keys() -> Keys:
    """The process's keys (RSA key generation is the slow part, so once)."""
    folder = Path(tempfile.mkdtemp(prefix="docflow-test-pki-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    files = init_pki(folder / "pki", passphrase=PASS, now=datetime.now(UTC))
    return Keys(
        leader=PadesKey(load_pkcs12(files.leader_p12, PASS), signature_image=demo_signature_png()),
        seal=PadesKey(load_pkcs12(files.seal_p12, PASS), seal_image=demo_seal_png()),
        ca=x509.load_pem_x509_certificate(files.ca_cert.read_bytes()))


test_keys.__test__ = False  # type: ignore[attr-defined]  # not a test, whatever its name
