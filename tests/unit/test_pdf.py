from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from docflow.domain.errors import BadFile
from docflow.pdf import PypdfInspector
from tests.pdfs import deflate_bomb, good_pdf, page_tree_loop, truncated_pdf


def inspect(tmp_path: Path, data: bytes) -> object:
    path = tmp_path / "f.pdf"
    path.write_bytes(data)
    return PypdfInspector().inspect(path)


def test_a_good_pdf_reports_its_pages(tmp_path: Path) -> None:
    info = inspect(tmp_path, good_pdf())
    assert info.page_count == 1


@pytest.mark.parametrize(("data", "message"), [
    (b"GIF89a not a pdf at all", "not a PDF"),
    (truncated_pdf(), "cannot be read|no pages"),
    (page_tree_loop(), "cannot be read|no pages"),
])
def test_broken_and_looping_files_are_refused(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(BadFile, match=message):
        inspect(tmp_path, data)


def test_a_deflate_bomb_is_refused_quickly_and_in_bounded_memory(tmp_path: Path) -> None:
    bomb = deflate_bomb(512)
    assert len(bomb) < 1 << 20  # half a GiB of zeros in well under a MiB
    tracemalloc.start()
    started = time.monotonic()
    with pytest.raises(BadFile):
        inspect(tmp_path, bomb)
    elapsed = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 10
    assert peak < 300 << 20
