"""SoftHSM2 tokens holding RSA keys and their certificates, issued by a test CA: what a USB
token or an HSM holds. The key is generated on the token and never leaves it.

The PKCS#11 library is initialised once per process and reads its configuration then, so one
token folder serves the whole test run (the `softhsm_tokens` fixture in tests/conftest.py),
with every token made up front.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from docflow.signing import pki

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
LABELS = ("docflow-test", "docflow-seals")
PIN = "1234"


@dataclass(frozen=True)
class Token:
    module: str
    label: str
    pin: str
    key_label: str
    common_name: str


def make_token(tokens: tuple[str, ...], authority: pki.Authority, *,
               label: str = "docflow-test", key_label: str = "leader",
               common_name: str = "Token Holder") -> Token:
    """A new key pair on token `label`, with a certificate from `authority` beside it."""
    assert label in tokens
    import pkcs11
    from pkcs11 import Attribute, CertificateType, KeyType, ObjectClass
    from pkcs11.util.rsa import encode_rsa_public_key

    token = pkcs11.lib(MODULE).get_token(token_label=label)
    with token.open(rw=True, user_pin=PIN) as session:
        public, _private = session.generate_keypair(KeyType.RSA, 2048, id=key_label.encode(),
                                                    label=key_label, store=True)
        public_key = serialization.load_der_public_key(encode_rsa_public_key(public))
        assert isinstance(public_key, rsa.RSAPublicKey)
        cert = pki.issue_certificate(authority, public_key, common_name=common_name,
                                     organisation="docflow test", now=datetime.now(UTC))
        session.create_object({
            Attribute.CLASS: ObjectClass.CERTIFICATE,
            Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
            Attribute.TOKEN: True, Attribute.LABEL: key_label, Attribute.ID: key_label.encode(),
            Attribute.SUBJECT: cert.subject.public_bytes(),
            Attribute.VALUE: cert.public_bytes(serialization.Encoding.DER)})
    return Token(MODULE, label, PIN, key_label, common_name)
