"""PDF intake checks with pypdf, under decode limits so hostile files end in bounded time."""

from __future__ import annotations

import logging
from pathlib import Path

import pypdf
from pypdf.errors import PyPdfError

from docflow.domain.errors import BadFile
from docflow.services.ports import PdfInfo

# Generous for real documents (a scanned 200-page directive decodes to far less), small enough
# that a deflate bomb or a runaway filter chain stops quickly.
LIMITS: dict[str, int] = {
    "maximum_declared_stream_length": 64_000_000,
    "zlib_maximum_output_length": 64_000_000,
    "lzw_maximum_output_length": 64_000_000,
    "run_length_maximum_output_length": 64_000_000,
    "array_based_stream_maximum_output_length": 64_000_000,
    "stream_decoding_work_maximum_length": 128_000_000,
    "page_tree_maximum_depth": 64,
    "page_tree_maximum_entries": 100_000,
}

CONFIGURATION = pypdf.Configuration().with_overwrites(**LIMITS)


class PypdfInspector:
    """Opens a PDF, counts its pages and decodes their content streams under limits."""

    def __init__(self, max_pages: int = 5000) -> None:
        self._max_pages = max_pages
        # pypdf logs every repaired oddity at WARNING; we report our own verdict instead.
        logging.getLogger("pypdf").setLevel(logging.ERROR)

    def inspect(self, path: Path) -> PdfInfo:
        """Page count and version; BadFile for anything that is not a usable PDF."""
        with path.open("rb") as f:
            head = f.read(1024)
        if b"%PDF-" not in head:
            raise BadFile("the file is not a PDF (no %PDF- header)")
        try:
            with pypdf.apply_configuration(CONFIGURATION):
                reader = pypdf.PdfReader(path, strict=False)
                if reader.is_encrypted:
                    raise BadFile("encrypted PDFs are not accepted: they cannot be signed or kept")
                pages = len(reader.pages)
                if pages == 0:
                    raise BadFile("the PDF has no pages")
                if pages > self._max_pages:
                    raise BadFile(f"the PDF has more than {self._max_pages} pages")
                for page in reader.pages:
                    contents = page.get_contents()
                    if contents is not None:
                        contents.get_data()
                version = reader.pdf_header.removeprefix("%PDF-")
        except BadFile:
            raise
        except (PyPdfError, RecursionError, MemoryError, ValueError, TypeError, KeyError,
                AttributeError, IndexError, OverflowError, AssertionError, EOFError) as exc:
            raise BadFile(f"the PDF cannot be read safely: {type(exc).__name__}: {exc}"[:300]
                          ) from exc
        return PdfInfo(page_count=pages, pdf_version=version)
