"""How the Decree-30 signatures look: a pyHanko stamp style, and demo images made with Pillow.

pyHanko's `TextStampStyle` sets every line flush left; a Decree-30 signature block centres the
position line, the handwritten signature and the name. `BlockStampStyle` draws lines at the top
and the bottom of the box (centred, left or right) in an embedded OpenType font, and the
image (the stamp's background) centred between them.

Rendering a block (shaping, subsetting the font, encoding the image) costs far more than the
signature itself, and a leader signing a queue signs the same block again and again.
`block_style` therefore returns a `RenderedStampStyle`: the block is rendered once per process
into a small PDF, and each signature copies the finished form XObject into its document.
"""

from __future__ import annotations

import functools
import io
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from fontTools import subset
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw
from pyhanko.pdf_utils import layout
from pyhanko.pdf_utils.content import PdfContent, ResourceType
from pyhanko.pdf_utils.font.api import FontEngine
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator
from pyhanko.pdf_utils.generic import IndirectObject, pdf_name
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import BasePdfFileWriter, PdfFileWriter
from pyhanko.stamp import BaseStamp, BaseStampStyle

from docflow.domain.errors import Invalid

FONT_DIR = Path("/usr/share/texmf/fonts/opentype/public/tex-gyre")
REGULAR_FONT = FONT_DIR / "texgyretermes-regular.otf"  # Times metrics, full Vietnamese
BOLD_FONT = FONT_DIR / "texgyretermes-bold.otf"
LEADING = 1.2
MARGIN = 2.0
Align = Literal["center", "left", "right"]


@dataclass(frozen=True)
class TextLine:
    text: str
    bold: bool = False


@dataclass(frozen=True)
class BlockStampStyle(BaseStampStyle):
    """Lines at the top and at the bottom of the box, the background image between them."""

    top: tuple[TextLine, ...] = ()
    bottom: tuple[TextLine, ...] = ()
    font_size: int = 11
    align: Align = "center"
    regular_font: Path = REGULAR_FONT
    bold_font: Path = BOLD_FONT
    border_width: int = 0
    background_opacity: float = 1.0
    background_layout: layout.SimpleBoxLayoutRule = field(
        default_factory=lambda: layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MID, y_align=layout.AxisAlignment.ALIGN_MID,
            margins=layout.Margins.uniform(MARGIN)))  # type: ignore[no-untyped-call]

    def create_stamp(self, writer: BasePdfFileWriter, box: layout.BoxConstraints,
                     text_params: dict) -> BlockStamp:  # type: ignore[type-arg]
        return BlockStamp(writer, self, box)


def block_style(*, top: tuple[TextLine, ...] = (), bottom: tuple[TextLine, ...] = (),
                image: bytes | None = None, font_size: int = 11,
                align: Align = "center") -> RenderedStampStyle:
    """A block style; the image (PNG bytes, transparency kept) fits between the lines.
    Rendered once per process for each box size it is drawn in."""
    return RenderedStampStyle(spec=_BlockSpec(top=top, bottom=bottom, font_size=font_size,
                                              align=align), image=image)


def render_block(*, top: tuple[TextLine, ...] = (), bottom: tuple[TextLine, ...] = (),
                 image: bytes | None = None, font_size: int = 11,
                 align: Align = "center") -> BlockStampStyle:
    """The block style itself, drawn anew into each document (what `RenderedStampStyle`
    copies)."""
    for path in {REGULAR_FONT, *((BOLD_FONT,) if any(t.bold for t in top + bottom) else ())}:
        if not path.is_file():
            raise FileNotFoundError(
                f"the signature font {path} is missing (Debian package fonts-texgyre)")
    background: PdfContent | None = None
    if image is not None:
        background = PdfImage(Image.open(io.BytesIO(image)))
    gap = font_size * 0.3
    margins = layout.Margins(
        left=round(MARGIN), right=round(MARGIN),
        top=round(MARGIN + len(top) * font_size * LEADING + (gap if top else 0)),
        bottom=round(MARGIN + len(bottom) * font_size * LEADING + (gap if bottom else 0)))
    return BlockStampStyle(
        top=top, bottom=bottom, font_size=font_size, align=align, background=background,
        background_layout=layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MID, y_align=layout.AxisAlignment.ALIGN_MID,
            margins=margins))


@dataclass(frozen=True)
class _BlockSpec:
    """What a block shows, by value: the key of the rendered-block cache."""

    top: tuple[TextLine, ...]
    bottom: tuple[TextLine, ...]
    font_size: int
    align: Align


@dataclass(frozen=True, eq=False)
class RenderedStampStyle(BaseStampStyle):
    """A `BlockStampStyle` rendered once per box size and copied into each document."""

    spec: _BlockSpec | None = None
    image: bytes | None = None

    def create_stamp(self, writer: BasePdfFileWriter, box: layout.BoxConstraints,
                     text_params: dict) -> BaseStamp:  # type: ignore[type-arg]
        if not (box and box.width_defined and box.height_defined):
            raise layout.LayoutError("a signature block needs a fixed box")
        assert self.spec is not None
        rendered = _rendered(self.spec, self.image, box.width, box.height)
        return _CopiedAppearance(writer, self, box, rendered)


class _CopiedAppearance(BaseStamp):
    """A stamp whose form XObject is copied, finished, from a rendered block."""

    def __init__(self, writer: BasePdfFileWriter, style: RenderedStampStyle,
                 box: layout.BoxConstraints, rendered: _Rendered) -> None:
        super().__init__(writer=writer, style=style, box=box)
        self._rendered = rendered

    def register(self) -> IndirectObject:
        if self._content_xobj_ref is None:
            with self._rendered.lock:  # the reader parses lazily, from one shared stream
                copied = self._ensure_writer.import_object(self._rendered.xobject)
            self._content_xobj_ref = self._ensure_writer.add_object(copied)
        return self._content_xobj_ref


class _Rendered:
    """A rendered block: the small PDF holding it, parsed once."""

    def __init__(self, pdf: bytes) -> None:
        self.lock = threading.Lock()
        reader = PdfFileReader(io.BytesIO(pdf))
        self.xobject = reader.root["/DocflowAppearance"]


@functools.lru_cache(maxsize=128)
def _rendered(spec: _BlockSpec, image: bytes | None, width: float, height: float
              ) -> _Rendered:
    """The block rendered into a small PDF whose catalogue holds its finished form XObject;
    made once per process for each (block, image, box size), keyed by value."""
    style = render_block(top=spec.top, bottom=spec.bottom, image=image,
                         font_size=spec.font_size, align=spec.align)
    writer = PdfFileWriter()  # type: ignore[no-untyped-call]
    stamp = style.create_stamp(writer, layout.BoxConstraints(width, height), {})
    writer.root["/DocflowAppearance"] = stamp.register()
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return _Rendered(out.getvalue())


class BlockStamp(BaseStamp):
    def __init__(self, writer: BasePdfFileWriter, style: BlockStampStyle,
                 box: layout.BoxConstraints) -> None:
        if not (box and box.width_defined and box.height_defined):
            raise layout.LayoutError("a signature block needs a fixed box")
        super().__init__(writer=writer, style=style, box=box)
        self._engines: dict[bool, tuple[str, FontEngine]] = {}

    def _engine(self, bold: bool) -> tuple[str, FontEngine]:
        if bold not in self._engines:
            style: BlockStampStyle = self.style
            assert self.writer is not None
            engine = _font_engine(self.writer, style.bold_font if bold else style.regular_font,
                                  style.font_size)
            name = "/F2" if bold else "/F1"
            self.set_resource(ResourceType.FONT, pdf_name(name), engine.as_resource())
            self._engines[bold] = (name, engine)
        return self._engines[bold]

    def _line(self, line: TextLine, baseline: float) -> bytes:
        style: BlockStampStyle = self.style
        name, engine = self._engine(line.bold)
        shaped = engine.shape(line.text)
        width = shaped.x_advance * style.font_size
        if style.align == "left":
            x = MARGIN
        elif style.align == "right":
            x = self.box.width - MARGIN - width
        else:
            x = (self.box.width - width) / 2
        return b"BT %s %d Tf %g %g Td %s ET" % (
            name.encode("ascii"), style.font_size, round(x, 3), round(baseline, 3),
            shaped.graphics_ops)

    def _render_inner_content(self) -> list[bytes]:
        style: BlockStampStyle = self.style
        size = style.font_size
        leading = size * LEADING
        ops = [b"q 0 g"]
        for i, line in enumerate(style.top):
            ops.append(self._line(line, self.box.height - MARGIN - size * 0.9 - i * leading))
        count = len(style.bottom)
        for i, line in enumerate(style.bottom):
            ops.append(self._line(line, MARGIN + size * 0.25 + (count - 1 - i) * leading))
        ops.append(b"Q")
        return ops


def _font_engine(writer: BasePdfFileWriter, path: Path, size: int) -> GlyphAccumulator:
    """pyHanko's `GlyphAccumulatorFactory`, minus the font file handle it never closes.

    The font file is read once per process; the Tf size and the shaping size are the same
    (lines drift sideways otherwise: TOOLING.md, pyHanko #733).
    """
    obj_stream = (writer.prepare_object_stream()  # type: ignore[no-untyped-call]
                  if writer.stream_xrefs else None)
    return GlyphAccumulator(writer=writer, font_handle=io.BytesIO(_font_bytes(path)),
                            font_size=size, obj_stream=obj_stream)


# Every letter Vietnamese writes (Latin, its extensions, the precomposed tone-marked vowels and
# the combining marks) and the usual punctuation: what a signature block can show.
WORKING_SET = [*range(0x20, 0x250), *range(0x300, 0x370), *range(0x1E00, 0x1F00),
               *range(0x2000, 0x2070), 0x20AB]


@functools.cache
def _font_bytes(path: Path) -> bytes:
    """The font, cut once per process to the working set. pyHanko subsets the font again for
    every signature, parsing all of it each time; on the full TeX Gyre Termes that parse was
    most of a visible signature's cost."""
    font = TTFont(io.BytesIO(path.read_bytes()))
    options = subset.Options()
    # Mark positioning and composition keep Vietnamese diacritics right; pair kerning goes:
    # its GPOS table alone took ~150 ms to parse, on every signature.
    options.layout_features = ["ccmp", "locl", "mark", "mkmk", "liga"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.glyph_names = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=WORKING_SET)
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


# --- demo images (generated, so no binary assets to ship) -------------------------------------


def demo_signature_png(width: int = 360, height: int = 150) -> bytes:
    """A blue handwritten-looking scribble on a transparent background."""
    img = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    points = []
    for step in range(200):
        t = step / 199
        x = 20 + t * (width - 40)
        y = height / 2 + math.sin(t * 5 * math.pi) * height * 0.25 * (1 - t * 0.5) \
            + math.cos(t * 13 * math.pi) * height * 0.08
        points.append((x, y))
    draw.line(points, fill=(20, 40, 200, 255), width=5, joint="curve")
    draw.line([(width * 0.25, height * 0.8), (width * 0.85, height * 0.7)],
              fill=(20, 40, 200, 255), width=4)
    return _png(img)


def demo_seal_png(size: int = 300) -> bytes:
    """A red round seal (two rings and a star) on a transparent background."""
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    red = (210, 20, 30, 230)
    draw.ellipse([4, 4, size - 5, size - 5], outline=red, width=10)
    inner = size * 0.22
    draw.ellipse([inner, inner, size - inner, size - inner], outline=red, width=5)
    centre, outer_r, inner_r = size / 2, size * 0.2, size * 0.08
    star = []
    for k in range(10):
        radius = outer_r if k % 2 == 0 else inner_r
        angle = -math.pi / 2 + k * math.pi / 5
        star.append((centre + radius * math.cos(angle), centre + radius * math.sin(angle)))
    draw.polygon(star, fill=red)
    for k in range(36):  # the ring of lettering, drawn as dashes
        angle = k * 2 * math.pi / 36
        r1, r2 = size * 0.33, size * 0.42
        draw.line([(centre + r1 * math.cos(angle), centre + r1 * math.sin(angle)),
                   (centre + r2 * math.cos(angle), centre + r2 * math.sin(angle))],
                  fill=red, width=6)
    return _png(img)


def _png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


MARK_MAX_BYTES = 2 << 20
MARK_MAX_SIDE = 3000


class PngMarks:
    """The MarkCheck port: a signature or seal image must be a transparent PNG of sensible
    size, decoded in full here (a file that only looks like one fails now, not at signing)."""

    def check(self, data: bytes) -> None:
        if len(data) > MARK_MAX_BYTES:
            raise Invalid(f"the image is larger than {MARK_MAX_BYTES >> 20} MiB")
        try:
            with Image.open(io.BytesIO(data)) as img:
                if img.format != "PNG":
                    raise Invalid("the image must be a PNG (with a transparent background)")
                if max(img.size) > MARK_MAX_SIDE or min(img.size) < 16:
                    raise Invalid(f"the image must be 16 to {MARK_MAX_SIDE} pixels a side")
                transparent = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
                img.load()
        except Invalid:
            raise
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise Invalid(f"the image cannot be read: {exc}") from None
        if not transparent:
            raise Invalid("the image needs a transparent background, so the text under the "
                          "signature or seal shows through")
