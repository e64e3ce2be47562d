"""A SoftHSM2 token holding an RSA key and its certificate, issued by a test CA: what a USB
token or an HSM holds. The key is generated on the token and never leaves it."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from docflow.signing import pki
from tests.conftest import missing

MODULE = "/usr/lib/softhsm/libsofthsm2.so"


@dataclass(frozen=True)
class Token:
    module: str
    label: str
    pin: str
    key_label: str
    common_name: str


def make_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, authority: pki.Authority, *,
               label: str = "docflow-test", key_label: str = "leader",
               common_name: str = "Token Holder") -> Token:
    softhsm = shutil.which("softhsm2-util")
    if softhsm is None:
        missing("the softhsm2-util program")
    if not Path(MODULE).exists():
        missing(MODULE)
    import pkcs11
    from pkcs11 import Attribute, CertificateType, KeyType, ObjectClass
    from pkcs11.util.rsa import encode_rsa_public_key

    tokens = tmp_path / "tokens"
    tokens.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n"
                    "log.level = ERROR\n")
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    assert softhsm is not None
    subprocess.run([softhsm, "--init-token", "--free", "--label", label,
                    "--so-pin", "5678", "--pin", "1234"], check=True, capture_output=True)
    token = pkcs11.lib(MODULE).get_token(token_label=label)
    with token.open(rw=True, user_pin="1234") as session:
        public, _private = session.generate_keypair(KeyType.RSA, 2048, id=b"\x01",
                                                    label=key_label, store=True)
        public_key = serialization.load_der_public_key(encode_rsa_public_key(public))
        assert isinstance(public_key, rsa.RSAPublicKey)
        cert = pki.issue_certificate(authority, public_key, common_name=common_name,
                                     organisation="docflow test", now=datetime.now(UTC))
        session.create_object({
            Attribute.CLASS: ObjectClass.CERTIFICATE,
            Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
            Attribute.TOKEN: True, Attribute.LABEL: key_label, Attribute.ID: b"\x01",
            Attribute.SUBJECT: cert.subject.public_bytes(),
            Attribute.VALUE: cert.public_bytes(serialization.Encoding.DER)})
    return Token(MODULE, label, "1234", key_label, common_name)
