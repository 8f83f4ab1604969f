"""What decoding one image will cost in memory, known from its header before any pixel is decoded.

`decode_cost` is an upper bound of the peak memory that `service.preprocess.decode_image` needs
for an image, in bytes: what admission (service/admission.py) reserves from the process's
budget before decoding. It adds the decoded image, the copies the mode's conversion path makes
(service/image_modes.py) and the decoder's own buffers; benchmarks/decode_memory.py prints,
for every mode, this figure next to the measured peak RSS.

Pillow keeps pixels in 1 byte ("1", "L", "P"), 2 bytes ("I;16") or 4 bytes (everything else,
RGB and LA included). What the decoders add:
- a progressive or multi-scan JPEG keeps the whole image's DCT coefficients (2 bytes per
  sample of every component at full resolution) whatever the draft scale (libjpeg's
  "buffered-image" mode); a baseline single-scan JPEG decodes a band at a time;
- libwebp's animation decoder (what Pillow uses for every WebP) holds a 4-byte canvas from
  the moment the file is opened, decodes into its own buffer and hands Pillow a copy;
- libtiff reads a whole strip or tile at once, and a strip may be the whole image.
"""

from __future__ import annotations

import math

from PIL import Image, WebPImagePlugin

from service.errors import ApiError
from service.image_modes import conversion_bytes

MIB = 2**20
_ONE_BYTE_MODES = frozenset({"1", "L", "P"})
# Decoders' own buffers and small allocations: a floor for every image.
_FIXED_BYTES = 2 * MIB
_WEBP_BUFFERS = 3  # the canvas, libwebp's output and the copy handed to Pillow (4 bytes each)


def bytes_per_pixel(mode: str) -> int:
    """How many bytes Pillow stores per pixel of `mode`."""
    if mode in _ONE_BYTE_MODES:
        return 1
    return 2 if mode.startswith("I;16") else 4


def decode_cost(image: Image.Image, full_size: tuple[int, int], data: bytes) -> int:
    """Peak bytes that decoding `image` (opened lazily, after any JPEG draft) will need.

    `full_size` is the size the header declares (a JPEG's draft scale shrinks `image.size`,
    not its coefficient buffers); `data` the encoded bytes (to spot a multi-scan JPEG).
    """
    width, height = image.size
    pixels = width * height
    stored = pixels * bytes_per_pixel(image.mode)
    # A copy reduced at least twice in each direction, and Pillow's 8-byte line pointers for
    # the few full-height images alive at once.
    cost = _FIXED_BYTES + stored + stored // 4 + 32 * height
    cost += conversion_bytes(image)
    if image.format == "JPEG" and _jpeg_is_multi_scan(image, data):
        cost += _jpeg_coefficient_bytes(image, full_size)
    elif image.format == "WEBP":
        cost += _WEBP_BUFFERS * 4 * pixels
    elif image.format == "TIFF":
        cost += stored  # one strip (or tile) can hold the whole image
    return cost


def webp_cost(size: tuple[int, int]) -> int:
    """The cost of a WebP of `size` before it is opened (libwebp allocates at open): as an
    RGBA image (4 bytes, a reduced copy, luminance and canvas) plus libwebp's buffers."""
    width, height = size
    pixels = width * height
    return _FIXED_BYTES + (4 + 1 + 2 + _WEBP_BUFFERS * 4) * pixels + 32 * height


def _jpeg_is_multi_scan(image: Image.Image, data: bytes) -> bool:
    """Progressive, or a second start-of-scan marker after the first: libjpeg then buffers
    every coefficient. Outside the entropy-coded data an FF DA pair can only be a marker
    (inside it every FF byte is followed by 00 or a restart marker); a false positive (an FF
    DA inside a later segment) only makes the estimate safer."""
    if image.info.get("progressive") or image.info.get("progression"):
        return True
    first = data.find(b"\xff\xda")
    return first >= 0 and data.find(b"\xff\xda", first + 2) >= 0


def _jpeg_coefficient_bytes(image: Image.Image, full_size: tuple[int, int]) -> int:
    """libjpeg's whole-image coefficient arrays: 64 two-byte coefficients per 8x8 block of
    every component, its sampling factors rounding each up to whole MCUs."""
    width, height = full_size
    layers = getattr(image, "layer", None) or [("", 1, 1, 0)] * max(1, len(image.getbands()))
    h_max = max(h for _, h, _, _ in layers)
    v_max = max(v for _, _, v, _ in layers)
    mcu_columns = math.ceil(width / (8 * h_max))
    mcu_rows = math.ceil(height / (8 * v_max))
    blocks = sum(mcu_columns * h * mcu_rows * v for _, h, v, _ in layers)
    return blocks * 64 * 2


def affordable(
    cost: int,
    capacity: int,
    image_format: str | None,
    size: tuple[int, int],
    mode: str | None = None,
) -> int:
    """`cost`, or ApiError 413 when decoding the image would need more than the whole
    decode budget (`capacity` bytes): it could never run."""
    if cost <= capacity:
        return cost
    kind = f" ({mode})" if mode else ""
    raise ApiError(
        413,
        "IMAGE_TOO_LARGE",
        f"Decoding this {size[0]}x{size[1]} {image_format} image{kind} needs about "
        f"{cost / MIB:.0f} MiB, more than a worker decodes at once ({capacity / MIB:.0f} MiB, "
        "DECODE_MEMORY_MB); send a smaller image, or an 8-bit PNG or a baseline JPEG, which "
        "cost less to decode.",
    )


def webp_declared_size(data: bytes) -> tuple[int, int] | None:
    """A WebP's canvas size from its header, None for any other format."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    # Pillow's own header reader (the one its bomb check runs before libwebp allocates). It is
    # private: without it (another Pillow), the WebP is checked and reserved once opened, like
    # other formats, and only the canvas allocated at open escapes the budget.
    read_size = getattr(WebPImagePlugin, "_get_size", None)
    return read_size(data[:30]) if read_size else None
