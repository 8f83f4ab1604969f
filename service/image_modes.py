"""Every Pillow mode to 8-bit gray, reduced early, with as few full-size copies as possible.

A 4096x4096 image costs 16 MiB in "L" or "P" but 64 MiB in "LA", "RGB" or "CMYK" (Pillow stores
4 bytes a pixel), and every conversion at full size adds another. So each mode takes the path
that copies least: 8-bit modes are box-reduced before any conversion, 16-bit gray is reduced
in its own mode, a palette image is composited through its palette (never as RGBA), LA and RGBA
are composited onto white in "L". `conversion_bytes` is what each path adds at full size, for
the decode cost (service/decode_memory.py) that admission reserves.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# Larger images are reduced to about this size before the array work: a garment that fills a
# tenth of the frame still keeps well over 28 pixels.
WORKING_SIZE = 512
# The modes composited onto white as they are, without a conversion to RGBA first.
DIRECT_ALPHA_MODES = frozenset({"LA", "RGBA"})
ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
# Reduced before any conversion (Image.reduce supports them), so no full-size copy is made.
REDUCIBLE_MODES = frozenset({"L", "RGB", "RGBX", "CMYK", "YCbCr"})
# 16-bit gray that a box resize reduces correctly. Pillow 13.0.0 resizes I;16B as if it were
# little-endian (garbage; seen here, and guarded by test_image_modes), so big-endian 16-bit
# gray is widened to "I" first.
RESIZABLE_16_BIT = frozenset({"I;16", "I;16L"})


def is_wide(mode: str) -> bool:
    """16-bit and 32-bit gray, which are scaled to 8 bits here (convert("L") would clip)."""
    return mode in ("I", "F") or mode.startswith("I;")


def conversion_bytes(image: Image.Image) -> int:
    """The bytes of the full-size images `to_gray` makes on the way to 8-bit gray."""
    pixels = image.size[0] * image.size[1]
    mode = image.mode
    if is_wide(mode):
        # Reduced in its own mode first, then scaled; other 16-bit layouts are widened first.
        return 0 if mode in ("I", "F") or mode in RESIZABLE_16_BIT else 4 * pixels
    if mode == "P":
        return pixels  # one 8-bit image through a composited gray palette
    if mode in DIRECT_ALPHA_MODES or _gray_with_key(image):
        return 2 * pixels  # luminance (or a mask), and the white canvas it is composited onto
    if mode in ALPHA_MODES or "transparency" in image.info:
        return 4 * pixels + 2 * pixels  # converted to RGBA first
    if mode == "1":
        return pixels
    if mode in REDUCIBLE_MODES:
        return 0
    return 4 * pixels  # LAB, HSV...: converted to RGB first


def to_gray(image: Image.Image) -> tuple[Image.Image, bool]:
    """8-bit gray pixels, and whether transparent pixels were composited onto white.

    Large images are reduced as early as the mode allows, and no full-size copy is made that
    need not be: `conversion_bytes` counts the copies each path makes (keep them in step).
    """
    mode = image.mode
    if is_wide(mode):
        return _wide_to_gray(image), False
    if mode == "P":
        gray, composited = _palette_to_gray(image)
        return reduce(gray), composited
    if mode in ALPHA_MODES or "transparency" in image.info:
        gray, composited = _composite_alpha(image)
        return reduce(gray), composited
    if mode == "L":
        return reduce(image), False  # already gray: a 28x28 upload is used as it is
    if mode == "1":
        return reduce(image.convert("L")), False
    if mode not in REDUCIBLE_MODES:
        image = image.convert("RGB")  # LAB, HSV...: via RGB
    reduced = reduce(image)
    if reduced.mode not in ("L", "RGB"):
        reduced = reduced.convert("RGB")  # CMYK, YCbCr
    return reduced.convert("L"), False


def _wide_to_gray(image: Image.Image) -> Image.Image:
    """16-bit (or 32-bit) gray to 8 bits by scaling; Pillow's convert("L") would clip."""
    if image.mode == "F":
        values = np.asarray(reduce(image), dtype=np.float64)
        values = np.nan_to_num(values, nan=0.0, posinf=255.0, neginf=0.0)
        if values.size and values.max() <= 1.0:
            values = values * 255.0  # a float image in [0, 1]
        return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8))
    wide = reduce(image)
    if wide.mode != "I":
        wide = wide.convert("I")  # I;16 once reduced: a 32-bit copy of the small image only
    return wide.point(lambda value: value * (1 / 257)).convert("L")  # 65535 -> 255; L clips


def _palette_to_gray(image: Image.Image) -> tuple[Image.Image, bool]:
    """A palette image as gray composited onto white, through one 256-entry gray palette.

    Compositing is a function of the palette index alone, so no RGBA copy is needed: each
    entry's luminance (Pillow's own L conversion) and alpha (tRNS, or an RGBA palette) give
    its composited gray, exactly as an RGBA conversion then compositing would. True if a
    pixel in the image uses a not fully opaque entry."""
    rgb = (image.getpalette("RGB") or [])[: 256 * 3]
    rgb += [0] * (256 * 3 - len(rgb))  # indices past the palette are black, as in Pillow
    luminance = Image.frombytes("RGB", (256, 1), bytes(rgb)).convert("L").tobytes()
    alphas = _palette_alphas(image)
    used = [index for index, count in enumerate(image.histogram()) if count]
    transparent = any(alphas[index] < 255 for index in used)
    gray = [
        (2 * (level * alpha + 255 * (255 - alpha)) + 255) // 510  # rounded, as Pillow's paste
        for level, alpha in zip(luminance, alphas, strict=True)
    ]
    image.info.pop("transparency", None)  # the alphas are in the gray palette now
    image.putpalette([value for level in gray for value in (level, level, level)], "RGB")
    return image.convert("L"), transparent


def _palette_alphas(image: Image.Image) -> list[int]:
    alphas = [255] * 256
    if image.palette is not None and image.palette.mode == "RGBA":
        alphas = list((image.getpalette("RGBA") or [])[3::4]) + alphas
    transparency = image.info.get("transparency")
    if isinstance(transparency, int) and 0 <= transparency < 256:
        alphas[transparency] = 0
    elif isinstance(transparency, bytes):
        alphas[: len(transparency)] = [
            min(a, b) for a, b in zip(transparency[:256], alphas, strict=False)
        ]
    return alphas[:256]


def _composite_alpha(image: Image.Image) -> tuple[Image.Image, bool]:
    """Composite onto white, as the data set's product photos were shot; True if any pixel
    was not fully opaque. A cut-out garment then looks like a photo on a white background and
    is inverted like one (a white shirt turns faint, as white garments are in Fashion-MNIST).

    LA and RGBA are used as they are (an RGBA copy costs 4 bytes a pixel): their luminance is
    pasted onto a white canvas through their own alpha band. Gray with one transparent level
    (a gray GIF or PNG) gets an 8-bit mask from that level instead."""
    if _gray_with_key(image):
        level = image.info["transparency"]
        if not image.histogram()[level]:
            return image, False
        mask = image.point([0 if value == level else 255 for value in range(256)])
        canvas = Image.new("L", image.size, 255)
        canvas.paste(image, None, mask)
        return canvas, True
    rgba = image if image.mode in DIRECT_ALPHA_MODES else image.convert("RGBA")
    luminance = rgba.convert("L")
    lowest_alpha = rgba.getextrema()[-1][0]
    if lowest_alpha >= 255:
        return luminance, False
    canvas = Image.new("L", rgba.size, 255)
    canvas.paste(luminance, None, rgba)
    return canvas, True


def _gray_with_key(image: Image.Image) -> bool:
    """8-bit gray with one transparent level (tRNS in a gray PNG; a GIF with a gray palette,
    which Pillow opens as "L")."""
    return image.mode == "L" and isinstance(image.info.get("transparency"), int)


def reduce(image: Image.Image) -> Image.Image:
    """Box-reduce an image much larger than WORKING_SIZE (an integer factor: cheap, exact)."""
    factor = max(image.size) // WORKING_SIZE
    if factor < 2:
        return image
    if image.mode in RESIZABLE_16_BIT:  # Image.reduce has no 16-bit mode; a box resize does
        width, height = image.size
        size = (-(-width // factor), -(-height // factor))
        return image.resize(size, Image.Resampling.BOX)
    if image.mode.startswith("I;"):
        image = image.convert("I")  # big-endian or other 16-bit layouts (see RESIZABLE_16_BIT)
    return image.reduce(factor)
