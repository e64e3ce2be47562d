"""The service layer's SignatureValidator: validation against the configured trust anchors."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from docflow.signing.trust import load_anchors
from docflow.signing.validation import ValidationLimits, validate_pdf


class AnchoredValidator:
    """Validates in a bounded validator process; anchors are read on each call, so a CA added by
    `docflow pki init` or an operator counts at once."""

    def __init__(self, anchor_paths: Sequence[Path], limits: ValidationLimits | None = None,
                 *, isolate: bool = True) -> None:
        self._paths = tuple(anchor_paths)
        self._limits = limits or ValidationLimits()
        self._isolate = isolate

    def validate(self, data: bytes) -> tuple[str, dict[str, object]]:
        report = validate_pdf(data, trust_roots=load_anchors(self._paths), limits=self._limits,
                              isolate=self._isolate)
        return report.verdict.value, report.to_json()
