"""The token agent: a leader's USB token (PKCS#11) or key file (PKCS#12), lent to docflow's
pages on the leader's own computer (``docflow token-agent``).

The key never leaves the token and the document never reaches the agent: the page asks
docflow to prepare the signatures (each document's signed attributes, "data to be signed"),
hands them to the agent, and sends the agent's signature values back to docflow, which checks
each against the certificate before it embeds it (the interrupted flow). One token session
(one PIN) serves every document of a batch.

It listens on 127.0.0.1 only and answers only the docflow sites it was started for (CORS,
with Chromium's private-network preflight), so another web page cannot use the token.

    GET  /certificate  -> {"certificate": PEM, "chain": [PEM, ...], "subject": "..."}
    POST /sign         {"data_to_be_signed": [base64, ...]}
                       -> {"signature_values": [base64, ...]}
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Callable, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from asn1crypto import pem
from pyhanko.sign import signers

DIGEST = "sha256"
MAX_ITEMS = 500  # the largest signing batch docflow prepares
MAX_BODY = 8 << 20


class TokenAgent:
    """What the agent does, apart from HTTP: show the certificate, sign the values."""

    def __init__(self, signer: signers.Signer, *, log: Callable[[str], None] = print,
                 confirm: Callable[[int, str], bool] | None = None) -> None:
        """`confirm(count, site)`: asked before each batch is signed (the person at the
        computer says yes); None signs without asking."""
        self._signer = signer
        self._lock = threading.Lock()  # one token session: one signature at a time
        self._log = log
        self._confirm = confirm

    def certificate(self) -> dict[str, Any]:
        cert = self._signer.signing_cert
        assert cert is not None
        chain = [c for c in (self._signer.cert_registry or ()) if c.dump() != cert.dump()]
        return {"certificate": _pem(cert.dump()), "chain": [_pem(c.dump()) for c in chain],
                "subject": cert.subject.human_friendly}

    def sign(self, values: Sequence[bytes], site: str = "") -> list[bytes]:
        """Sign each value (the DER of a CMS signed-attributes set) with SHA-256, once the
        person at the computer agreed (when the agent asks)."""
        with self._lock:
            if self._confirm is not None and not self._confirm(len(values), site):
                raise AgentError(HTTPStatus.FORBIDDEN, "the signer declined on their computer")
            signed = [asyncio.run(self._signer.async_sign_raw(value, DIGEST))
                      for value in values]
        self._log(f"signed {len(signed)} document(s)")
        return signed


def _pem(der: bytes) -> str:
    return str(pem.armor("CERTIFICATE", der).decode("ascii"))


class AgentError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def serve(agent: TokenAgent, origins: Sequence[str], host: str = "127.0.0.1",
          port: int = 8765) -> ThreadingHTTPServer:
    """The agent's HTTP server, bound but not yet serving (call `serve_forever`)."""
    allowed = {o.rstrip("/") for o in origins}

    class Handler(BaseHTTPRequestHandler):
        server_version = "docflow-token-agent"

        def log_message(self, format: str, *args: Any) -> None:
            return  # the agent says what it signed; requests themselves are noise

        def _origin(self) -> str:
            origin = self.headers.get("Origin", "")
            if origin not in allowed:
                raise AgentError(HTTPStatus.FORBIDDEN,
                                 f"this token agent serves {', '.join(sorted(allowed))} only")
            return origin

        def _answer(self, status: HTTPStatus, body: dict[str, Any] | None,
                    origin: str | None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            if origin:
                self.send_header("Access-Control-Allow-Origin", origin)
                self.send_header("Vary", "Origin")
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, work: Callable[[str], tuple[HTTPStatus, dict[str, Any] | None]]
                    ) -> None:
            origin = None
            try:
                origin = self._origin()
                status, body = work(origin)
            except AgentError as exc:
                status, body = exc.status, {"detail": str(exc)}
            except Exception as exc:  # the token said no (PIN locked, removed …): say so
                status, body = HTTPStatus.BAD_GATEWAY, {"detail": f"the token failed: {exc}"}
            self._answer(status, body, origin)

        def do_OPTIONS(self) -> None:
            try:
                origin = self._origin()
            except AgentError as exc:
                self._answer(exc.status, {"detail": str(exc)}, None)
                return
            self.send_response(HTTPStatus.NO_CONTENT)
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Access-Control-Allow-Methods", "GET, POST")
            self.send_header("Access-Control-Allow-Headers", "Content-Type")
            # Chromium asks before a public site may reach a loopback address.
            self.send_header("Access-Control-Allow-Private-Network", "true")
            self.send_header("Access-Control-Max-Age", "600")
            self.send_header("Vary", "Origin")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            def get(_origin: str) -> tuple[HTTPStatus, dict[str, Any]]:
                if self.path != "/certificate":
                    raise AgentError(HTTPStatus.NOT_FOUND, "no such thing here")
                return HTTPStatus.OK, agent.certificate()

            self._handle(get)

        def do_POST(self) -> None:
            def post(origin: str) -> tuple[HTTPStatus, dict[str, Any]]:
                if self.path != "/sign":
                    raise AgentError(HTTPStatus.NOT_FOUND, "no such thing here")
                size = int(self.headers.get("Content-Length") or 0)
                if not 0 < size <= MAX_BODY:
                    raise AgentError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                                     "send one JSON object of at most 8 MiB")
                values = _values(self.rfile.read(size))
                signed = agent.sign(values, origin)
                return HTTPStatus.OK, {"signature_values": [
                    base64.b64encode(v).decode("ascii") for v in signed]}

            self._handle(post)

    return ThreadingHTTPServer((host, port), Handler)


def _values(body: bytes) -> list[bytes]:
    try:
        items = json.loads(body)["data_to_be_signed"]
        if not isinstance(items, list) or not 0 < len(items) <= MAX_ITEMS:
            raise ValueError
        return [base64.b64decode(str(item), validate=True) for item in items]
    except (ValueError, KeyError, TypeError):
        raise AgentError(HTTPStatus.BAD_REQUEST,
                         f'send {{"data_to_be_signed": [base64, ...]}}, 1 to {MAX_ITEMS} '
                         f"items") from None
