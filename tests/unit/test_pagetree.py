"""The signing writer's page lookup gives what pyHanko's own walk gives, touching less."""

from __future__ import annotations

from io import BytesIO
from itertools import count
from typing import Any

import pytest
from pyhanko.pdf_utils import misc
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from docflow.signing.pagetree import SigningWriter

Tree = list[Any]  # a /Pages node: its kids, each a page (an int: its label) or a node


def tree_pdf(tree: Tree, *, resources_on: frozenset[str] = frozenset(),
             missing: frozenset[int] = frozenset(), count_of: dict[str, int] | None = None
             ) -> bytes:
    """A PDF whose page tree has the shape of `tree`. Nodes are named by their path ("r",
    "r0", "r01" …); those in `resources_on` and pages whose label is in `resources_on` (as
    "p<label>") carry their own /Resources naming them. Pages labelled in `missing` are
    referenced but never written. `count_of` overrides a node's /Count."""
    objects: dict[int, bytes] = {}
    numbers = count(3)

    def node(kids: Tree, path: str, parent: int, number: int) -> int:
        refs, total = [], 0
        for index, kid in enumerate(kids):
            kid_number = next(numbers)
            if isinstance(kid, list):
                total += node(kid, f"{path}{index}", number, kid_number)
            else:
                total += 1
                own = f" /Resources << /Name /p{kid} >>" if f"p{kid}" in resources_on else ""
                if kid not in missing:
                    objects[kid_number] = (
                        f"<< /Type /Page /Parent {number} 0 R /MediaBox [0 0 {100 + kid} 100]"
                        f" /Label ({kid}){own} >>").encode()
            refs.append(f"{kid_number} 0 R")
        own = f" /Resources << /Name /{path} >>" if path in resources_on else ""
        up = f" /Parent {parent} 0 R" if parent else ""
        shown = (count_of or {}).get(path, total)
        objects[number] = (f"<< /Type /Pages /Kids [{' '.join(refs)}] /Count {shown}{up}{own} >>"
                           ).encode()
        return total

    node(tree, "r", 0, 2)
    objects[1] = b"<< /Type /Catalog /Pages 2 0 R >>"
    out = BytesIO()
    out.write(b"%PDF-1.7\n")
    size = max(objects) + 1
    offsets = {}
    for number in sorted(objects):
        offsets[number] = out.tell()
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, objects[number]))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % size)
    for number in range(1, size):
        if number in offsets:
            out.write(b"%010d 00000 n \n" % offsets[number])
        else:
            out.write(b"0000000000 65535 f \n")
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, xref))
    return out.getvalue()


def page_label(found: Any) -> int:
    return int(str(found.get_object()["/Label"]))


def same_result(pdf: bytes, index: int) -> None:
    ours = SigningWriter(BytesIO(pdf), strict=False)
    stock = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
    page, resources = ours.find_page_for_modification(index)
    stock_page, stock_resources = stock.find_page_for_modification(index)
    assert page.reference == stock_page.reference
    assert resources == stock_resources
    node, kid_index, resources = ours.find_page_container(index)
    stock_node, stock_kid_index, stock_resources = stock.find_page_container(index)
    assert node.reference == stock_node.reference
    assert kid_index == stock_kid_index
    assert resources == stock_resources


SHAPES: dict[str, Tree] = {
    "flat": list(range(20)),
    "one page": [0],
    "nested": [[0, 1, 2], [3, [4, 5], 6], 7, [[8], [9, 10, 11]], 12],
    "deep on the right": [0, [1, [2, [3, [4, [5]]]]]],
    "empty nodes": [[], 0, [[], 1], [], 2],
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_page_is_the_one_pyhanko_finds_with_the_same_resources(shape: str) -> None:
    tree = SHAPES[shape]
    pages = tree_pdf(tree, resources_on=frozenset({"r", "r1", "r3", "r31", "p5", "p10"}))
    total = int(IncrementalPdfFileWriter(BytesIO(pages)).root["/Pages"]["/Count"])
    for index in [*range(total), *range(-total, 0)]:
        same_result(pages, index)


def test_pages_come_in_document_order() -> None:
    writer = SigningWriter(BytesIO(tree_pdf(SHAPES["nested"])), strict=False)
    labels = [page_label(writer.find_page_for_modification(i)[0]) for i in range(13)]
    assert labels == list(range(13))


def test_the_last_page_of_a_flat_tree_is_found_without_reading_the_others() -> None:
    # The other 199 page objects are not even in the file: a walk that touched one would fail.
    pdf = tree_pdf(list(range(200)), missing=frozenset(range(199)))
    writer = SigningWriter(BytesIO(pdf), strict=False)
    assert page_label(writer.find_page_for_modification(-1)[0]) == 199
    with pytest.raises(Exception):  # noqa: B017 - pyHanko's walk reads them all
        IncrementalPdfFileWriter(BytesIO(pdf), strict=False).find_page_for_modification(-1)


def test_a_subtree_is_skipped_by_its_count() -> None:
    pdf = tree_pdf([[0, 1, 2], [3, 4], 5], missing=frozenset({3, 4}))
    writer = SigningWriter(BytesIO(pdf), strict=False)
    assert page_label(writer.find_page_for_modification(5)[0]) == 5
    assert page_label(writer.find_page_for_modification(0)[0]) == 0


@pytest.mark.parametrize("index", [20, -21])
def test_an_index_outside_the_document_is_refused(index: int) -> None:
    writer = SigningWriter(BytesIO(tree_pdf(list(range(20)))), strict=False)
    with pytest.raises(misc.PdfError, match="out of range"):
        writer.find_page_for_modification(index)


def test_an_index_the_kids_do_not_reach_is_refused() -> None:
    writer = SigningWriter(BytesIO(tree_pdf([0], count_of={"r": 5})), strict=False)
    with pytest.raises(misc.PdfError, match="not found"):
        writer.find_page_for_modification(1)


def test_a_page_tree_that_loops_is_refused() -> None:
    pdf = tree_pdf([0, [1]]).replace(b"/Kids [5 0 R]", b"/Kids [4 0 R]")
    writer = SigningWriter(BytesIO(pdf), strict=False)
    with pytest.raises(misc.PdfReadError, match="Circular"):
        writer.find_page_for_modification(1)
