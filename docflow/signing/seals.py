"""The organisation seals the server holds: one key per unit, in a PKCS#12 file or an HSM.

A leader's key is personal and stays on their token (the remote flow); an organisation's seal is
the organisation's, kept by the server, and the clerk applies it. Which unit's seal lives where
is a TOML file (``DOCFLOW_SEAL_KEYS``); secrets are never in it, only the files that hold them
(Docker secrets under /run/secrets, say); paths are relative to the file::

    [units.T48]                       # the unit's code
    pkcs12 = "seal-t48.p12"
    passphrase_file = "/run/secrets/seal-t48-passphrase"
    image = "seal-t48.png"            # the red seal, a transparent PNG at actual size

    [units.TW]
    pkcs11_module = "/usr/lib/softhsm/libsofthsm2.so"
    token_label = "docflow-seals"
    key_label = "seal-tw"             # cert_label defaults to key_label
    pin_file = "/run/secrets/hsm-pin"
    chain = ["ca.pem"]                # issuing CA certificates to embed, optional
    image = "seal-tw.png"

A PKCS#12 key is decoded once; a token is logged in to once per process (one PIN session for
a whole batch) and the session is kept until `close`.
"""

from __future__ import annotations

import threading
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from pyhanko.sign import signers

from docflow.domain.errors import Conflict
from docflow.services.ports import SigningKey
from docflow.signing.keys import PadesKey
from docflow.signing.pades import DEFAULT_OPTIONS, SigningOptions
from docflow.signing.signers import load_pkcs12, open_pkcs11_signer


class SealConfigError(ValueError):
    """The seal keys file is malformed; the message names the unit and the field."""


_PKCS12_FIELDS = {"pkcs12", "passphrase_file", "image"}
_PKCS11_FIELDS = {"pkcs11_module", "token_label", "key_label", "cert_label", "pin_file",
                  "chain", "image"}


@dataclass(frozen=True)
class _Entry:
    unit_code: str
    image: Path | None
    pkcs12: Path | None = None
    passphrase: bytes | None = None
    module: str | None = None
    token_label: str | None = None
    key_label: str | None = None
    cert_label: str | None = None
    pin: str | None = None
    chain: tuple[Path, ...] = ()


class SealKeyring:
    """The `SealKeys` port: the seal of a unit, wherever its key lives."""

    def __init__(self, entries: Mapping[str, _Entry],
                 options: SigningOptions = DEFAULT_OPTIONS) -> None:
        self._entries = dict(entries)
        self._options = options
        self._keys: dict[str, PadesKey] = {}
        self._locks = {code: threading.Lock() for code in self._entries}
        self._sessions = ExitStack()

    @classmethod
    def load(cls, path: Path, options: SigningOptions = DEFAULT_OPTIONS) -> SealKeyring:
        """Read and check the file; secrets are read now, so a missing one fails at start."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SealConfigError(f"cannot read the seal keys file {path}: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise SealConfigError(f"{path} is not valid TOML: {exc}") from exc
        units = data.get("units")
        if not isinstance(units, dict) or set(data) - {"units"}:
            raise SealConfigError(f"{path}: expected only [units.<code>] tables")
        entries = {}
        for code, raw in units.items():
            if not isinstance(raw, dict):
                raise SealConfigError(f"{path}: units.{code} must be a table")
            entries[code] = _entry(path.parent, code, raw)
        return cls(entries, options)

    def units(self) -> list[str]:
        """The units whose seal the server holds."""
        return sorted(self._entries)

    @contextmanager
    def open(self, unit_code: str) -> Iterator[SigningKey]:
        """The unit's seal, for the block's duration; one signature at a time per unit."""
        entry = self._entries.get(unit_code)
        if entry is None:
            raise Conflict(f"the server holds no organisation seal for unit {unit_code}; "
                           f"seal with the unit's token (remote signing) or configure "
                           f"DOCFLOW_SEAL_KEYS")
        with self._locks[unit_code]:  # a PKCS#11 session runs one operation at a time
            yield self._key(entry)

    def close(self) -> None:
        """Log out of every token session opened."""
        self._sessions.close()
        self._keys.clear()

    def _key(self, entry: _Entry) -> PadesKey:
        key = self._keys.get(entry.unit_code)
        if key is None:
            image = entry.image.read_bytes() if entry.image else None
            signer: signers.Signer
            if entry.pkcs12 is not None:
                signer = load_pkcs12(entry.pkcs12, entry.passphrase)
            else:
                assert entry.module and entry.token_label and entry.key_label and entry.pin
                signer = self._sessions.enter_context(open_pkcs11_signer(
                    entry.module, entry.token_label, entry.pin, entry.key_label,
                    entry.cert_label, ca_chain=[_certificate(p) for p in entry.chain]))
            key = self._keys[entry.unit_code] = PadesKey(signer, options=self._options,
                                                         seal_image=image)
        return key


def _entry(base: Path, code: str, raw: dict[str, object]) -> _Entry:
    where = f"units.{code}"

    def path(field: str) -> Path | None:
        value = raw.get(field)
        if value is None:
            return None
        found = (base / str(value)).expanduser()
        if not found.is_file():
            raise SealConfigError(f"{where}.{field}: no such file {found}")
        return found

    def secret(field: str) -> str:
        file = path(field)
        if file is None:
            raise SealConfigError(f"{where}.{field} is required (the file holding the secret)")
        value = file.read_text(encoding="utf-8").strip()
        if not value:
            raise SealConfigError(f"{where}.{field}: {file} is empty")
        return value

    if "pkcs12" in raw:
        _only(where, raw, _PKCS12_FIELDS)
        return _Entry(unit_code=code, image=path("image"), pkcs12=path("pkcs12"),
                      passphrase=secret("passphrase_file").encode())
    if "pkcs11_module" in raw:
        _only(where, raw, _PKCS11_FIELDS)
        for field in ("token_label", "key_label"):
            if not raw.get(field):
                raise SealConfigError(f"{where}.{field} is required with pkcs11_module")
        module = str(raw["pkcs11_module"])
        if not Path(module).is_file():
            raise SealConfigError(f"{where}.pkcs11_module: no such file {module}")
        chain = raw.get("chain", [])
        if not isinstance(chain, list):
            raise SealConfigError(f"{where}.chain must be a list of certificate files")
        chain_paths = []
        for item in chain:
            found = (base / str(item)).expanduser()
            if not found.is_file():
                raise SealConfigError(f"{where}.chain: no such file {found}")
            chain_paths.append(found)
        return _Entry(unit_code=code, image=path("image"), module=module,
                      token_label=str(raw["token_label"]), key_label=str(raw["key_label"]),
                      cert_label=str(raw["cert_label"]) if raw.get("cert_label") else None,
                      pin=secret("pin_file"), chain=tuple(chain_paths))
    raise SealConfigError(f"{where}: give pkcs12 (a file) or pkcs11_module (a token)")


def _only(where: str, raw: dict[str, object], allowed: set[str]) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise SealConfigError(f"{where}: unknown field(s) {', '.join(unknown)}")


def _certificate(path: Path) -> asn1_x509.Certificate:
    data = path.read_bytes()
    if pem.detect(data):
        _type, _headers, data = pem.unarmor(data)
    return asn1_x509.Certificate.load(data)
