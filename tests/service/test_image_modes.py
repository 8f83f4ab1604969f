"""Images in every mode, bit depth and orientation reach the model as Fashion-MNIST pixels.

Where a conversion is exact (16-bit, palette, CMYK TIFF, RGB, EXIF rotation of a PNG) the
prediction's confidences equal those of the same image sent as plain pixels.
"""

from __future__ import annotations

import numpy as np
import pytest
from flask.testing import FlaskClient
from PIL import Image
from service_helpers import class_ids, encode, product_photo

GRAY_PALETTE = [level for value in range(256) for level in (value, value, value)]


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
