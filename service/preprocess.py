"""From uploaded bytes to the model's input: a 28x28 image in Fashion-MNIST form.

Fashion-MNIST was made from product photos (zalandoresearch/fashion-mnist): trim the edges that
have the corner colour, resize the longest edge to 28, pad to 28x28 with the garment centred,
negate (dark garment on white becomes light on black), 8-bit gray. `decode_image` and
`to_model_input` replay those steps on a photo, so that what the model sees resembles what it
was trained on; an image that already is 28x28 is only checked for polarity, never cropped or
resized, so the official test images reach the model exactly as in the data set.

Decoding is bounded: only six decoders may run, the declared size is checked before any pixel
is decoded, multi-frame images are refused, JPEGs decode at a reduced scale and other large
images are reduced before the array work. Every failure is an `ApiError` (4xx).
"""

from __future__ import annotations

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
    ImageOps,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    UnidentifiedImageError,
    WebPImagePlugin,
)

from service.errors import ApiError

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
# Larger images are reduced to about this size before the array work: a garment that fills a
# tenth of the frame still keeps well over 28 pixels.
WORKING_SIZE = 512
_SHARPEN = ImageFilter.UnsharpMask(radius=1, percent=50, threshold=0)
_MODES_WITH_ALPHA = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})

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
    """Decode an upload into gray pixels: format check, size check, EXIF, alpha, 8 bits."""
    if not data:
        raise ApiError(400, "EMPTY_IMAGE", "The image is empty (0 bytes).")
    image = _open(data, max_pixels)
    with image:
        width, height = image.size
        if width * height > max_pixels:
            raise ApiError(
                413,
                "IMAGE_TOO_LARGE",
                f"The image declares {width}x{height} = {width * height} pixels; "
                f"the limit is {max_pixels} (MAX_PIXELS).",
            )
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
        if image.format == "JPEG":
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: less time and memory.
            image.draft(None, (WORKING_SIZE, WORKING_SIZE))
        _load(image)
        oriented = _apply_exif_orientation(image)
        report["exif_transposed"] = oriented is not image
        gray, alpha_composited = _to_gray(oriented)
        report["alpha_composited"] = alpha_composited
    return DecodedImage(gray=gray, report=report)


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


def _apply_exif_orientation(image: Image.Image) -> Image.Image:
    """The image turned upright as its EXIF orientation says, or the image itself."""
    try:
        orientation = image.getexif().get(0x0112, 1)
        if orientation in (2, 3, 4, 5, 6, 7, 8):
            return ImageOps.exif_transpose(image)
    except Exception:  # noqa: S110 - broken EXIF: keep the pixels as they are
        pass
    return image


def _to_gray(image: Image.Image) -> tuple[np.ndarray, bool]:
    """8-bit gray pixels, and whether transparent pixels were composited onto white.

    Large images are reduced as early as the mode allows: the later steps then touch a
    fraction of the pixels, and no full-size copy is made that need not be.
    """
    mode = image.mode
    if mode == "F" or mode == "I" or mode.startswith("I;"):
        return _wide_to_gray(image), False
    if mode in _MODES_WITH_ALPHA or "transparency" in image.info:
        rgba = image if mode == "RGBA" else image.convert("RGBA")  # palette transparency too
        return _composite_alpha(_reduce(rgba))
    if mode == "1":
        image = image.convert("L")
    elif mode not in ("L", "RGB"):
        image = image.convert("RGB")  # CMYK, YCbCr, LAB, HSV, palette: via RGB
    return np.asarray(_reduce(image).convert("L"), dtype=np.uint8), False


def _wide_to_gray(image: Image.Image) -> np.ndarray:
    """16-bit (or 32-bit) gray to 8 bits by scaling; Pillow's convert("L") would clip."""
    if image.mode == "F":
        values = np.asarray(_reduce(image), dtype=np.float64)
        values = np.nan_to_num(values, nan=0.0, posinf=255.0, neginf=0.0)
        if values.size and values.max() <= 1.0:
            values = values * 255.0  # a float image in [0, 1]
        return np.clip(np.rint(values), 0, 255).astype(np.uint8)
    wide = _reduce(image if image.mode == "I" else image.convert("I"))
    scaled = wide.point(lambda value: value * (1 / 257))  # 65535 -> 255; "L" then clips
    return np.asarray(scaled.convert("L"), dtype=np.uint8)


def _composite_alpha(rgba: Image.Image) -> tuple[np.ndarray, bool]:
    """Composite onto white, as the data set's product photos were shot; True if any pixel
    was not fully opaque. A cut-out garment then looks like a photo on a white background and
    is inverted like one (a white shirt turns faint, as white garments are in Fashion-MNIST)."""
    alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255.0
    luminance = np.asarray(rgba.convert("L"), dtype=np.float32)
    if alpha.min() >= 1.0:
        return luminance.astype(np.uint8), False
    composited = luminance * alpha + 255.0 * (1.0 - alpha)
    return np.clip(np.rint(composited), 0, 255).astype(np.uint8), True


def _reduce(image: Image.Image) -> Image.Image:
    """Box-reduce an image much larger than WORKING_SIZE (an integer factor: cheap, exact)."""
    factor = max(image.size) // WORKING_SIZE
    return image.reduce(factor) if factor >= 2 else image


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
