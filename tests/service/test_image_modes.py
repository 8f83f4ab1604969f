"""Images in every mode, bit depth and orientation reach the model as Fashion-MNIST pixels.

Where a conversion is exact (16-bit, palette, CMYK TIFF, RGB, EXIF rotation of a PNG) the
prediction's confidences equal those of the same image sent as plain pixels. Transparent pixels
are composited onto white exactly; large images in every mode (each decoded along its own
low-memory path) reach the model like small ones; a side over MAX_IMAGE_SIDE is refused.
"""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from flask.testing import FlaskClient
from PIL import Image
from service_helpers import class_ids, encode, png_declaring, product_photo

from service import Settings, create_app
from service.config import DEFAULT_MAX_PIXELS
from service.preprocess import decode_image

GRAY_PALETTE = [level for value in range(256) for level in (value, value, value)]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunks(data: bytes) -> list[bytes]:
    """The chunks of a PNG file, each with its length, type and CRC."""
    chunks, position = [], len(PNG_SIGNATURE)
    while position < len(data):
        end = position + 12 + int.from_bytes(data[position : position + 4], "big")
        chunks.append(data[position:end])
        position = end
    return chunks


def predict_image(client: FlaskClient, data: bytes, content_type: str = "image/png") -> dict:
    response = client.post("/predict", data=data, content_type=content_type)
    assert response.status_code == 200, response.json
    return response.json["predictions"][0]


def predict_pixels(client: FlaskClient, pixels: np.ndarray) -> dict:
    response = client.post("/predict", json={"instances": [{"pixels": pixels.tolist()}]})
    assert response.status_code == 200, response.json
    return response.json["predictions"][0]


def sixteen_bit(image: np.ndarray) -> Image.Image:
    return Image.fromarray(image.astype(np.uint16) * 257)  # mode I;16, 0-65535


def palette(image: np.ndarray) -> Image.Image:
    indexed = Image.frombytes("P", (28, 28), image.tobytes())
    indexed.putpalette(GRAY_PALETTE)
    return indexed


EXACT_CONVERSIONS = {
    "16-bit PNG": lambda image: (encode(sixteen_bit(image), "PNG"), "image/png"),
    "16-bit TIFF": lambda image: (encode(sixteen_bit(image), "TIFF"), "image/tiff"),
    "palette PNG": lambda image: (encode(palette(image), "PNG"), "image/png"),
    "palette GIF": lambda image: (encode(palette(image), "GIF"), "image/gif"),
    "palette BMP": lambda image: (encode(palette(image), "BMP"), "image/bmp"),
    "CMYK TIFF": lambda image: (
        encode(Image.fromarray(image).convert("CMYK"), "TIFF"),
        "image/tiff",
    ),
    "RGB PNG": lambda image: (encode(Image.fromarray(image).convert("RGB"), "PNG"), "image/png"),
    "opaque RGBA PNG": lambda image: (
        encode(Image.fromarray(image).convert("RGBA"), "PNG"),
        "image/png",
    ),
    "opaque LA PNG": lambda image: (
        encode(Image.fromarray(image).convert("LA"), "PNG"),
        "image/png",
    ),
}


@pytest.mark.parametrize("conversion", sorted(EXACT_CONVERSIONS))
def test_exact_conversions_reach_the_model_unchanged(
    client: FlaskClient, golden, conversion: str
) -> None:
    images, _ = golden
    for image in images[:4]:
        data, content_type = EXACT_CONVERSIONS[conversion](image)
        from_image = predict_image(client, data, content_type)
        assert from_image["confidences"] == predict_pixels(client, image)["confidences"]
        assert from_image["preprocessing"]["resized"] is False


def test_cmyk_jpeg(client: FlaskClient, golden) -> None:
    images, labels = golden
    for image, label in zip(images, labels, strict=True):
        data = encode(Image.fromarray(image).convert("CMYK"), "JPEG", quality=95)
        prediction = predict_image(client, data, "image/jpeg")
        assert prediction["class_id"] == label
        assert prediction["preprocessing"]["mode"] == "CMYK"


def test_exif_orientation_is_applied(client: FlaskClient, golden) -> None:
    """Orientation 6 says "turn 90 degrees clockwise to display": the stored pixels lie on
    their side, and the model must see them upright."""
    images, _ = golden
    image = images[1]
    on_its_side = Image.fromarray(image).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    prediction = predict_image(client, encode(on_its_side, "PNG", exif=exif))

    assert prediction["preprocessing"]["exif_transposed"] is True
    assert prediction["confidences"] == predict_pixels(client, image)["confidences"]


def test_dark_on_white_is_inverted(client: FlaskClient, golden) -> None:
    images, labels = golden
    for image, label in zip(images, labels, strict=True):
        prediction = predict_image(client, encode(255 - image, "PNG"))
        assert prediction["preprocessing"]["inverted"] is True
        assert prediction["preprocessing"]["background"] == 255
        assert prediction["class_id"] == label
    exact = predict_image(client, encode(255 - images[0], "PNG"))
    assert exact["confidences"] == predict_pixels(client, images[0])["confidences"]


def test_cut_out_dark_garment_is_composited_onto_white_then_inverted(
    client: FlaskClient, golden
) -> None:
    """A product photo with a transparent background: the garment is dark and opaque."""
    images, labels = golden
    for image, label in zip(images, labels, strict=True):
        alpha = np.where(image > 0, 255, 0).astype(np.uint8)
        cut_out = Image.merge("LA", [Image.fromarray(255 - image), Image.fromarray(alpha)])
        prediction = predict_image(client, encode(cut_out.resize((112, 112)), "PNG"))
        assert prediction["preprocessing"]["alpha_composited"] is True
        assert prediction["preprocessing"]["inverted"] is True
        assert prediction["class_id"] == label


def test_bilevel_and_tiny_images_are_answered(client: FlaskClient) -> None:
    bilevel = Image.fromarray(np.eye(40, dtype=bool))
    for image in (bilevel, Image.new("L", (1, 1), 255), Image.new("RGB", (3, 300), "white")):
        response = client.post("/predict", data=encode(image, "PNG"), content_type="image/png")
        assert response.status_code == 200, response.json
        assert len(class_ids(response.json)) == 1


def test_product_photo_is_inverted_trimmed_and_centred(client: FlaskClient, golden) -> None:
    """Dark garment on white, 6x larger, off centre on a 400x300 canvas, as an RGB JPEG."""
    images, labels = golden
    correct = 0
    for image, label in zip(images, labels, strict=True):
        photo = product_photo(image, scale=6, canvas_size=(400, 300), offset=(200, 90))
        prediction = predict_image(client, photo, "image/jpeg")
        steps = prediction["preprocessing"]
        assert steps["source_size"] == [400, 300]
        assert steps["inverted"] is True and steps["cropped"] is True
        left, top, right, bottom = steps["crop_box"]
        assert 200 <= left < right <= 368 and 90 <= top < bottom <= 258
        assert max(steps["fitted_size"]) == 28
        correct += prediction["class_id"] == label
    assert correct >= 9


def test_background_is_the_median_of_the_outermost_pixels(client: FlaskClient) -> None:
    """Even count: the mean of the two middle values (here 128, so the image is inverted)."""
    frame = np.zeros((28, 28), dtype=np.uint8)
    outer = np.ones((28, 28), dtype=bool)
    outer[1:-1, 1:-1] = False
    frame[outer] = np.where(np.arange(outer.sum()) % 2, 100, 156)
    steps = predict_image(client, encode(frame, "PNG"))["preprocessing"]
    assert steps["background"] == 128 and steps["inverted"] is True

    strip = np.array([[0, 0, 200, 200, 200]], dtype=np.uint8)  # odd count: the middle value
    steps = predict_image(client, encode(strip, "PNG"))["preprocessing"]
    assert steps["background"] == 200 and steps["inverted"] is True


def _composited(luminance: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Compositing onto white, computed independently of Pillow."""
    values = luminance.astype(np.float64) * alpha / 255 + 255.0 * (1 - alpha / 255)
    return np.rint(values).astype(np.uint8)


def _random_planes(seed: int, shape: tuple[int, int] = (60, 90)) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    return tuple(rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(4))


def test_la_and_rgba_are_composited_onto_white_exactly() -> None:
    gray, alpha, green, blue = _random_planes(1)
    la = Image.merge("LA", [Image.fromarray(gray), Image.fromarray(alpha)])
    decoded = decode_image(encode(la, "PNG"), DEFAULT_MAX_PIXELS)
    assert decoded.report["alpha_composited"] is True
    assert np.array_equal(decoded.gray, _composited(gray, alpha))

    rgba = Image.merge("RGBA", [Image.fromarray(p) for p in (gray, green, blue, alpha)])
    luminance = np.asarray(rgba.convert("RGB").convert("L"))
    decoded = decode_image(encode(rgba, "PNG"), DEFAULT_MAX_PIXELS)
    assert np.array_equal(decoded.gray, _composited(luminance, alpha))


def test_palette_transparency_is_composited_through_the_palette_exactly() -> None:
    """tRNS with an alpha per palette entry (bytes) and with one transparent index (int)."""
    indices, _, _, _ = _random_planes(2)
    palette = list(np.random.default_rng(3).integers(0, 256, 768, dtype=np.uint8))
    entry_alpha = np.random.default_rng(4).integers(0, 256, 256, dtype=np.uint8)
    image = Image.fromarray(indices, "P")
    image.putpalette([int(value) for value in palette])
    rgb = np.asarray(image.convert("RGB").convert("L"))

    decoded = decode_image(encode(image, "PNG", transparency=entry_alpha.tobytes()), 1 << 24)
    assert decoded.report["alpha_composited"] is True
    assert np.array_equal(decoded.gray, _composited(rgb, entry_alpha[indices]))

    one_index = decode_image(encode(image, "GIF", transparency=7), 1 << 24)
    gif_rgb = np.asarray(Image.open(io.BytesIO(encode(image, "GIF"))).convert("L"))
    expected = np.where(indices == 7, 255, gif_rgb)
    assert np.array_equal(one_index.gray, expected)


def test_a_transparent_index_no_pixel_uses_leaves_the_image_opaque() -> None:
    image = palette(np.full((28, 28), 3, dtype=np.uint8))
    decoded = decode_image(encode(image, "PNG", transparency=200), DEFAULT_MAX_PIXELS)
    assert decoded.report["alpha_composited"] is False
    assert (decoded.gray == 3).all()


LARGE = 1536  # large enough to be reduced (3 times) before any conversion


def _large(image: np.ndarray) -> Image.Image:
    return Image.fromarray(image).resize((LARGE, LARGE), Image.Resampling.NEAREST)


def _cut_out(image: np.ndarray) -> Image.Image:
    dark = _large(255 - image)
    return Image.merge("LA", [dark, _large(np.where(image > 0, 255, 0).astype(np.uint8))])


def _transparent_palette(image: np.ndarray) -> Image.Image:
    """Dark garment levels in a gray palette, index 255 (the background) transparent."""
    levels = np.where(image > 0, np.minimum(255 - image, 254), 255).astype(np.uint8)
    indexed = palette(levels).resize((LARGE, LARGE), Image.Resampling.NEAREST)
    indexed.info["transparency"] = 255
    return indexed


LARGE_MODES = {
    "LA PNG": lambda image: encode(_cut_out(image), "PNG"),
    "palette PNG with transparency": lambda image: encode(
        _transparent_palette(image), "PNG", transparency=255
    ),
    "progressive CMYK JPEG": lambda image: encode(
        _large(255 - image).convert("CMYK"), "JPEG", quality=95, progressive=True
    ),
    "16-bit PNG": lambda image: encode(sixteen_bit(np.asarray(_large(image))), "PNG"),
    "RGBA PNG": lambda image: encode(_cut_out(image).convert("RGBA"), "PNG"),
    "CMYK TIFF": lambda image: encode(
        _large(image).convert("CMYK"), "TIFF", compression="tiff_adobe_deflate"
    ),
}


@pytest.mark.parametrize("mode", sorted(LARGE_MODES))
def test_large_images_in_every_mode_reach_the_model_like_small_ones(
    client: FlaskClient, golden, mode: str
) -> None:
    images, labels = golden
    correct = 0
    for image, label in zip(images[:4], labels[:4], strict=True):
        prediction = predict_image(client, LARGE_MODES[mode](image))
        assert prediction["preprocessing"]["source_size"] == [LARGE, LARGE]
        correct += prediction["class_id"] == label
    assert correct >= 3


def test_exif_orientation_of_a_large_image_is_applied_after_the_reduction(
    client: FlaskClient, golden
) -> None:
    images, labels = golden
    exif = Image.Exif()
    exif[0x0112] = 6
    for image, label in zip(images[:4], labels[:4], strict=True):
        on_its_side = _large(image).transpose(Image.Transpose.ROTATE_90)
        prediction = predict_image(client, encode(on_its_side, "PNG", exif=exif))
        assert prediction["preprocessing"]["exif_transposed"] is True
        assert prediction["class_id"] == label


def test_an_exif_chunk_after_the_pixels_is_still_found(client: FlaskClient, golden) -> None:
    """A PNG may put eXIf after IDAT: the 28x28 fast path (no EXIF lookup without EXIF)
    looks only once the file is read."""
    images, _ = golden
    exif = Image.Exif()
    exif[0x0112] = 6
    on_its_side = Image.fromarray(images[1]).transpose(Image.Transpose.ROTATE_90)
    chunks = png_chunks(encode(on_its_side, "PNG", exif=exif))
    late = [c for c in chunks if c[4:8] not in (b"eXIf", b"IEND")]
    late += [c for c in chunks if c[4:8] == b"eXIf"] + [chunks[-1]]
    prediction = predict_image(client, PNG_SIGNATURE + b"".join(late))
    assert prediction["preprocessing"]["exif_transposed"] is True
    assert prediction["confidences"] == predict_pixels(client, images[1])["confidences"]


def test_a_28x28_gray_upload_is_used_as_it_is(golden) -> None:
    images, _ = golden
    decoded = decode_image(encode(images[0], "PNG"), DEFAULT_MAX_PIXELS)
    assert np.array_equal(decoded.gray, images[0])
    assert decoded.report["exif_transposed"] is False


@pytest.mark.parametrize("size", [(1, 16_777_216), (16_777_216, 1), (8193, 8)])
def test_a_side_longer_than_max_image_side_is_refused_before_decoding(
    client: FlaskClient, size: tuple[int, int]
) -> None:
    started = time.monotonic()
    response = client.post("/predict", data=png_declaring(*size), content_type="image/png")
    assert time.monotonic() - started < 5  # refused from the header (a bound, not a benchmark)
    assert response.status_code == 413
    assert response.json["error"]["code"] == "IMAGE_SIDE_TOO_LONG"
    assert "MAX_IMAGE_SIDE" in response.json["error"]["message"]


def test_max_image_side_is_a_setting() -> None:
    client = create_app(Settings(max_image_side=64), log_stream=io.StringIO()).test_client()
    wide = encode(Image.new("L", (65, 10), 255), "PNG")
    assert client.post("/predict", data=wide, content_type="image/png").status_code == 413
    square = encode(Image.new("L", (64, 64), 255), "PNG")
    assert client.post("/predict", data=square, content_type="image/png").status_code == 200


@pytest.mark.parametrize("mode", ["I;16", "I;16B"])
def test_large_16_bit_gray_is_reduced_right_in_either_byte_order(mode: str) -> None:
    """Reduced and scaled 16-bit pixels equal, within rounding, the box means of the 16-bit
    values over 257 (random values: a byte-order mix-up in the reduction shows)."""
    wide = np.random.default_rng(5).integers(0, 65536, (1100, 1200)).astype(np.uint16)
    stored = wide.astype(">u2" if mode == "I;16B" else "<u2")
    image = Image.frombytes(mode, (1200, 1100), stored.tobytes())
    decoded = decode_image(encode(image, "TIFF"), DEFAULT_MAX_PIXELS)
    means = wide.astype(np.float64).reshape(550, 2, 600, 2).mean(axis=(1, 3))
    assert decoded.report["mode"] == mode
    assert np.abs(decoded.gray - np.rint(means / 257)).max() <= 1


@pytest.mark.parametrize("image_format", ["PNG", "GIF"])
def test_gray_with_a_transparent_level_is_composited_onto_white(image_format: str) -> None:
    levels = np.random.default_rng(6).integers(0, 256, (60, 90), dtype=np.uint8)
    gray = Image.fromarray(levels)  # saved as a GIF with a gray palette, which opens as "L"
    decoded = decode_image(encode(gray, image_format, transparency=7), DEFAULT_MAX_PIXELS)
    assert decoded.report["mode"] == "L"
    assert decoded.report["alpha_composited"] is True
    assert np.array_equal(decoded.gray, np.where(levels == 7, 255, levels))
