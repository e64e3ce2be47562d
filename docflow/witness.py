"""The parent unit's docflow as this log's witness, over its HTTP API (`WitnessClient`): the
only place it is reached, at DOCFLOW_AUDIT_WITNESS_URL."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence

from docflow.domain.audit import TreeHead, Verdict


class WitnessError(RuntimeError):
    """The witness could not be reached, or refused the head (a fork or rollback)."""


class HttpWitness:
    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"the witness URL must be http(s)://, not {base_url!r}")
        self._base = base_url.rstrip("/")
        self._timeout = timeout

    def _call(self, method: str, path: str, body: object | None = None) -> tuple[int, object]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
            f"{self._base}{path}", data=data, method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request,  # noqa: S310 - http(s) only
                                        timeout=self._timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            payload = exc.read()
            try:
                return exc.code, json.loads(payload or b"null")
            except ValueError:
                return exc.code, payload.decode(errors="replace")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise WitnessError(f"the witness at {self._base} did not answer: {exc}") from exc

    def latest(self, log_id: bytes) -> TreeHead | None:
        status, body = self._call("GET", f"/witness/{log_id.hex()}")
        if status == 404:
            return None
        if status != 200 or not isinstance(body, dict):
            raise WitnessError(f"the witness answered {status}: {body}")
        return TreeHead.from_json(body)

    def send(self, head: TreeHead, proof: Sequence[bytes]) -> Verdict:
        status, body = self._call("POST", "/witness", {
            "head": head.as_json(), "proof": [p.hex() for p in proof]})
        if status in (200, 201) and isinstance(body, dict):
            return Verdict(body["verdict"])
        detail = body.get("detail") if isinstance(body, dict) else body
        raise WitnessError(f"the witness refused the head ({status}): {detail}")
