"""pyHanko's incremental writer with a page lookup that starts from the nearer end.

pyHanko finds page *i* by resolving every page object before it. The leader signs the last
page, so each signature parsed the whole page tree: ~90 µs a page in pyHanko's pure-Python
reader, 2 ms of a 20-page document's ~10 ms budget and most of a 200-page one's. Walking from
whichever end is nearer, and skipping a `/Pages` subtree by its `/Count`, resolves one page
object for the first or last page. The result is the same page and the same inherited
resources pyHanko's own walk returns for a consistent page tree (tested against it).
"""

from __future__ import annotations

from typing import Any

from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

CHUNK = 1 << 20  # bytes per read when copying the original into the output


class SigningWriter(IncrementalPdfFileWriter):
    """The writer every Decree-30 signature uses (see the module's docstring)."""

    IO_CHUNK_SIZE = CHUNK  # pyHanko copies the original in 4 KiB pieces: 2,500 for a 10 MiB scan

    def find_page_for_modification(self, page_ix: int) -> tuple[generic.IndirectObject, Any]:
        found = _walk(self, page_ix, parent=False)
        return found[0], found[2]

    def find_page_container(self, page_ix: int) -> tuple[generic.IndirectObject, int, Any]:
        return _walk(self, page_ix, parent=True)


def _walk(writer: IncrementalPdfFileWriter, page_ix: int, *, parent: bool
          ) -> tuple[generic.IndirectObject, int, Any]:
    """(page, -1, resources), or with `parent` (its /Pages node, its index there, resources):
    the resources are the nearest inherited ones, as pyHanko's walk gives them."""
    node_ref = writer.root.raw_get("/Pages")
    if not isinstance(node_ref, generic.IndirectObject):
        raise misc.PdfReadError("the page tree root must be an indirect object")
    node = node_ref.get_object()  # type: ignore[no-untyped-call]
    resources: Any = node.raw_get("/Resources") if "/Resources" in node \
        else generic.DictionaryObject()  # type: ignore[no-untyped-call]
    count = int(node["/Count"])
    if page_ix < 0:
        page_ix += count
    if not 0 <= page_ix < count:
        raise misc.PdfError("Page index out of range")
    first, seen = 0, {node_ref.reference}
    while True:
        if "/Resources" in node:
            resources = node.raw_get("/Resources")
        kids = node["/Kids"]
        backwards = page_ix - first >= count / 2
        # `edge`: the first page index past the kids seen so far, in the walk's direction.
        edge = first + count if backwards else first
        for kid_index in (range(len(kids) - 1, -1, -1) if backwards else range(len(kids))):
            kid_ref = kids.raw_get(kid_index)
            if not isinstance(kid_ref, generic.IndirectObject):
                raise misc.PdfReadError("Page tree node children must be indirect objects")
            if kid_ref.reference in seen:
                raise misc.PdfReadError("Circular reference in page tree")
            kid = kid_ref.get_object()  # type: ignore[no-untyped-call]
            kind = kid["/Type"]
            if kind == "/Pages":
                size = int(kid["/Count"])
                low = edge - size if backwards else edge
                if low <= page_ix < low + size:
                    node_ref, node, first, count = kid_ref, kid, low, size
                    seen.add(kid_ref.reference)
                    break
                edge = low if backwards else low + size
            elif kind == "/Page":
                index = edge - 1 if backwards else edge
                if index == page_ix:
                    if parent:
                        return node_ref, kid_index, resources
                    if "/Resources" in kid:
                        resources = kid.raw_get("/Resources")
                    return kid_ref, -1, resources
                edge = index if backwards else index + 1
        else:
            raise misc.PdfError("Page not found")
