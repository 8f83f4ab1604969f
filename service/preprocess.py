"""From uploaded bytes to the model's input: a 28x28 image in Fashion-MNIST form.

Fashion-MNIST was made from product photos (zalandoresearch/fashion-mnist): trim the edges that
have the corner colour, resize the longest edge to 28, pad to 28x28 with the garment centred,
negate (dark garment on white becomes light on black), 8-bit gray. `decode_image` and
`to_model_input` replay those steps on a photo, so that what the model sees resembles what it
was trained on; an image that already is 28x28 is only checked for polarity, never cropped or
resized, so the official test images reach the model exactly as in the data set.

Decoding is bounded: only six decoders may run, the declared size (pixels and longest side) is
checked before any pixel is decoded, multi-frame images are refused, JPEGs decode at a reduced
scale, other large images are reduced before any conversion (service/image_modes.py), and what
the decode will cost in memory is reserved from the process's budget first
(service/admission.py). Every failure is an `ApiError` (4xx, or 503 when the budget stays full).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import (
    BmpImagePlugin,
    GifImagePlugin,
    Image,
    ImageFilter,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    UnidentifiedImageError,
    WebPImagePlugin,
)

from service import admission
from service.decode_memory import affordable, decode_cost, webp_cost, webp_declared_size
from service.errors import ApiError
from service.image_modes import WORKING_SIZE, to_gray

ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
# Importing the six plugins registers them: Pillow would otherwise import all of its ~40
# plugins on the first WebP or TIFF (a slow first request), and none is needed beyond these.
_PLUGINS = (
    BmpImagePlugin,
    GifImagePlugin,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    WebPImagePlugin,
)
MODEL_SIZE = 28
# The data set trimmed "edges within 5% of the maximum intensity" of the corner colour.
TRIM_THRESHOLD = 0.05 * 255
_SHARPEN = ImageFilter.UnsharpMask(radius=1, percent=50, threshold=0)
# Images this small are not counted against the decode budget: at most ~1.3 MiB to decode in
# any mode and format, and a worker decodes at most THREADS at once. The reservation would
# cost a 28x28 upload more than the copy and EXIF lookup its fast path saves.
UNCOUNTED_PIXELS = 256 * 256
# Where Pillow's getexif() finds an orientation: EXIF, a PNG's raw profile, or XMP.
_EXIF_KEYS = frozenset({"exif", "Raw profile type exif", "xmp", "XML:com.adobe.xmp"})
# EXIF orientation -> the transpose that turns the pixels upright (ImageOps.exif_transpose's).
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# A declared size above Image.MAX_IMAGE_PIXELS must fail, not print a warning to stderr (which
# would break the one-JSON-line log rule). decode_image checks the size itself first; this is
# the backstop.
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)


def raise_pillow_limit_to(max_pixels: int) -> None:
    """Let Pillow's own bomb check (a process-wide setting) admit what MAX_PIXELS admits."""
    if Image.MAX_IMAGE_PIXELS is not None and max_pixels > Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = max_pixels


@dataclass
class DecodedImage:
    """An uploaded image as 8-bit gray pixels, with what decoding did to it."""

    gray: np.ndarray  # uint8 (height, width)
    report: dict[str, Any] = field(default_factory=dict)


def decode_image(data: bytes, max_pixels: int) -> DecodedImage:
    """Decode an upload into gray pixels: format check, size checks, admission, EXIF, alpha,
    8 bits. The image's decode cost is reserved from the process's budget (service/admission.py)
    from its header, before any pixel is decoded."""
    if not data:
        raise ApiError(400, "EMPTY_IMAGE", "The image is empty (0 bytes).")
    limits = admission.current()
    webp_size = webp_declared_size(data)
    if webp_size is not None:
        # libwebp allocates its canvas when the file is opened: check and reserve before that.
        _check_size(webp_size, max_pixels, limits.max_image_side)
        cost = affordable(webp_cost(webp_size), limits.budget.capacity, "WEBP", webp_size)
        with limits.budget.reserve(cost), _open(data, max_pixels) as image:
            return _decode(image, data, max_pixels, limits, reserved=True)
    with _open(data, max_pixels) as image:
        return _decode(image, data, max_pixels, limits, reserved=False)


def decode_cost_of(data: bytes, max_pixels: int) -> int:
    """The bytes `decode_image` reserves for `data` (for benchmarks/decode_memory.py)."""
    webp_size = webp_declared_size(data)
    if webp_size is not None:
        return webp_cost(webp_size)
    with _open(data, max_pixels) as image:
        full_size = _draft(image)
        return decode_cost(image, full_size, data)


def _decode(
    image: Image.Image,
    data: bytes,
    max_pixels: int,
    limits: admission.Admission,
    *,
    reserved: bool,
) -> DecodedImage:
    width, height = image.size
    _check_size(image.size, max_pixels, limits.max_image_side)
    report: dict[str, Any] = {
        "format": image.format,
        "mode": image.mode,
        "source_size": [width, height],
    }
    if _is_multi_frame(image):
        raise ApiError(
            422,
            "MULTI_FRAME_IMAGE",
            f"The {image.format} image has several frames (animation or pages); "
            "send a single-frame image.",
        )
    full_size = _draft(image)
    reservation: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if not reserved and width * height > UNCOUNTED_PIXELS:
        cost = decode_cost(image, full_size, data)
        affordable(cost, limits.budget.capacity, image.format, image.size, image.mode)
        reservation = limits.budget.reserve(cost)
    with reservation:
        _load(image)
        orientation = _exif_orientation(image)
        gray, alpha_composited = to_gray(image)
    report["exif_transposed"] = orientation in _TRANSPOSE
    report["alpha_composited"] = alpha_composited
    if orientation in _TRANSPOSE:
        # Turned upright after the reduction: the same pixels, without a full-size copy.
        gray = gray.transpose(_TRANSPOSE[orientation])
    return DecodedImage(gray=np.asarray(gray, dtype=np.uint8), report=report)


def _check_size(size: tuple[int, int], max_pixels: int, max_side: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ApiError(
            413,
            "IMAGE_TOO_LARGE",
            f"The image declares {width}x{height} = {width * height} pixels; "
            f"the limit is {max_pixels} (MAX_PIXELS).",
        )
    if max(width, height) > max_side:
        raise ApiError(
            413,
            "IMAGE_SIDE_TOO_LONG",
            f"The image declares {width}x{height}; its longest side may be at most "
            f"{max_side} pixels (MAX_IMAGE_SIDE).",
        )


def _draft(image: Image.Image) -> tuple[int, int]:
    """Let libjpeg decode a JPEG at 1/2, 1/4 or 1/8 scale (less time and memory); the size
    the header declared."""
    full_size = image.size
    if image.format == "JPEG":
        image.draft(None, (WORKING_SIZE, WORKING_SIZE))
    return full_size


def to_model_input(gray: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """Fashion-MNIST form from gray pixels (0-255, any size): float32 (28, 28) in [0, 1].

    Polarity: the background is the median of the outermost pixels; a light background (a
    product photo) is inverted so that the garment is light on black. A 28x28 input stops
    there. Larger or smaller inputs are trimmed to the garment, their background level is
    mapped to 0, the longest side is resized to 28 (then sharpened) and the garment is
    centred by its bounding box, as in the data set (centring by mass scored lower).
    """
    pixels = np.asarray(gray, dtype=np.float32)
    source_background = _median(_outer_frame(pixels))
    inverted = source_background >= 128
    background = 255.0 - source_background if inverted else source_background
    if inverted:
        pixels = 255.0 - pixels
    report: dict[str, Any] = {"inverted": inverted, "background": round(source_background)}
    if pixels.shape == (MODEL_SIZE, MODEL_SIZE):
        report.update(cropped=False, resized=False)
        return pixels / 255.0, report

    left, top, right, bottom = _garment_box(pixels, background)
    height, width = pixels.shape
    garment = pixels[top:bottom, left:right]
    if background > 0:
        garment = np.clip((garment - background) * (255.0 / (255.0 - background)), 0.0, 255.0)
    fitted = _fit_longest_side(garment)
    canvas = np.zeros((MODEL_SIZE, MODEL_SIZE), dtype=np.float32)
    fitted_height, fitted_width = fitted.shape
    y0 = (MODEL_SIZE - fitted_height) // 2
    x0 = (MODEL_SIZE - fitted_width) // 2
    canvas[y0 : y0 + fitted_height, x0 : x0 + fitted_width] = fitted
    report.update(
        cropped=(left, top, right, bottom) != (0, 0, width, height),
        crop_box=[left, top, right, bottom],
        resized=True,
        fitted_size=[fitted_width, fitted_height],
    )
    return canvas / 255.0, report


def _open(data: bytes, max_pixels: int) -> Image.Image:
    try:
        # Lazy: reads the header only. formats= keeps every other Pillow decoder out of reach.
        return Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except UnidentifiedImageError:
        raise ApiError(
            415,
            "UNSUPPORTED_IMAGE_FORMAT",
            f"The bytes are not an image in a supported format ({', '.join(ALLOWED_FORMATS)}).",
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ApiError(
            413,
            "IMAGE_TOO_LARGE",
            f"The image declares more than {max_pixels} pixels, the limit (MAX_PIXELS).",
        ) from None
    except Exception as error:  # a header parser can fail in many ways
        raise ApiError(400, "MALFORMED_IMAGE", f"The image header is malformed: {error}.") from None


def _is_multi_frame(image: Image.Image) -> bool:
    try:
        # is_animated stops at the second frame: cheap even for a long animation.
        return bool(getattr(image, "is_animated", False))
    except Exception as error:  # seeking a damaged file
        raise ApiError(400, "MALFORMED_IMAGE", f"The image is damaged: {error}.") from None


def _load(image: Image.Image) -> None:
    try:
        image.load()
    except Exception as error:  # decoders raise OSError, SyntaxError, ValueError...
        raise ApiError(
            400,
            "MALFORMED_IMAGE",
            f"The image could not be decoded (truncated or damaged): {error}.",
        ) from None


def _exif_orientation(image: Image.Image) -> int:
    """The EXIF orientation (1 = upright, 2-8 = flipped or turned), 1 when unreadable.

    Parsing EXIF is most of a small image's decode: it is skipped when the file carries none
    (a TIFF's orientation is a tag of its own, so a TIFF is always asked)."""
    if image.format != "TIFF" and not _EXIF_KEYS.intersection(image.info):
        return 1
    try:
        return int(image.getexif().get(0x0112, 1))
    except Exception:  # broken EXIF: keep the pixels as they are
        return 1


def _outer_frame(pixels: np.ndarray) -> np.ndarray:
    if min(pixels.shape) < 3:
        return pixels.ravel()
    return np.concatenate([pixels[0], pixels[-1], pixels[1:-1, 0], pixels[1:-1, -1]])


def _median(values: np.ndarray) -> float:
    """np.median's value (the mean of the two middle values for an even count, in the array's
    dtype), a tenth of its cost on the ~100 frame pixels: np.median's generic path dominates."""
    if values.size == 0:
        return float(np.median(values))
    ordered = np.sort(values)
    middle = ordered.size // 2
    if ordered.size % 2:
        return float(ordered[middle])
    return float((ordered[middle - 1] + ordered[middle]) / 2)


def _garment_box(pixels: np.ndarray, background: float) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the pixels that differ from the background; all if none."""
    mask = np.abs(pixels - background) > TRIM_THRESHOLD
    rows = np.flatnonzero(mask.any(axis=1))
    columns = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        height, width = pixels.shape
        return 0, 0, width, height
    return int(columns[0]), int(rows[0]), int(columns[-1]) + 1, int(rows[-1]) + 1


def _fit_longest_side(garment: np.ndarray) -> np.ndarray:
    """Resize so that the longest side is 28 pixels, keeping the aspect ratio, then sharpen.

    The data set sharpened after resizing (a Gaussian of radius 1); so does this, moderately:
    on 2,000 product-photo lookalikes it closed most of the gap to the originals' accuracy.
    """
    height, width = garment.shape
    scale = MODEL_SIZE / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = Image.fromarray(garment.astype(np.float32)).resize(size, Image.Resampling.LANCZOS)
    eight_bit = np.clip(np.rint(np.asarray(resized)), 0, 255).astype(np.uint8)
    sharpened = Image.fromarray(eight_bit).filter(_SHARPEN)
    return np.asarray(sharpened, dtype=np.float32)
