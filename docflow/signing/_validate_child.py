"""Child-process entry of `docflow.signing.validation.validate_pdf` (``isolate=True``).

Usage: ``python -m docflow.signing._validate_child MEMORY_BYTES CPU_SECONDS``. The limits are
set first, before pyHanko is imported or a byte of the document is read; then stdin holds one
JSON line (``{"trust_roots": [base64 DER, ...], "limits": {...}}``) followed by the PDF bytes,
and stdout gets the report as JSON. The parent adds the wall-clock timeout and maps a killed
or failed child to INDETERMINATE.

The limits are set here rather than in a ``preexec_fn``, which is unsafe in a parent that runs
threads (a web server); nothing untrusted is parsed before they are in force.
"""

from __future__ import annotations

import base64
import json
import resource
import sys


def _limit(kind: int, value: int) -> None:
    _soft, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, value + 1 if kind == resource.RLIMIT_CPU else value))


def main(argv: list[str]) -> int:
    memory_bytes, cpu_seconds = int(argv[1]), int(argv[2])
    _limit(resource.RLIMIT_AS, memory_bytes)
    _limit(resource.RLIMIT_CPU, cpu_seconds)
    _limit(resource.RLIMIT_CORE, 0)

    from cryptography import x509

    from docflow.signing.validation import ValidationLimits, validate_pdf_in_process

    header = json.loads(sys.stdin.buffer.readline())
    data = sys.stdin.buffer.read()
    roots = [x509.load_der_x509_certificate(base64.b64decode(c))
             for c in header["trust_roots"]]
    limits = ValidationLimits.from_json(header["limits"])
    report = validate_pdf_in_process(data, trust_roots=roots, limits=limits)
    sys.stdout.write(json.dumps(report.to_json()))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
