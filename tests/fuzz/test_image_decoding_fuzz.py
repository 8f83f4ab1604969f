"""Fuzzing of image decoding and preprocessing (service/preprocess.py) with hypothesis.

Inputs: arbitrary bytes; valid PNG, JPEG, GIF, BMP, TIFF and WebP files with bytes flipped,
overwritten, cut or spliced; and valid headers of each format patched to declare absurd sizes.
For every input, `decode_image` either returns 8-bit gray pixels or raises `ApiError` with a
4xx status (the documented failure: anything else would be a 500), `to_model_input` turns the
pixels into a finite float32 28x28 image in [0, 1], and the pair stays within a time and a
memory budget (generous: they catch a decompression bomb or a runaway loop, not a slow path).
"""

from __future__ import annotations

import io
import resource
import struct
import time
import tracemalloc
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from service.config import DEFAULT_MAX_PIXELS
from service.errors import ApiError
from service.preprocess import decode_image, raise_pillow_limit_to, to_model_input

SECONDS_PER_INPUT = 3.0
# Python-level allocations (NumPy arrays included) of one decode + preprocess. The largest
# admitted image (MAX_PIXELS = 4096 x 4096) needs 16 MiB as gray and 64 MiB as float32.
TRACED_BYTES_PER_INPUT = 400 * 2**20
# The whole fuzzing process: a bomb that Pillow decoded anyway would pass this.
PROCESS_PEAK_RSS = 2 * 2**30

# The service turns Pillow's DecompressionBombWarning into an error process-wide
# (service/preprocess.py); pytest resets warning filters per test, so say it again here.
# Pillow's other warnings (damaged TIFF tags...) are expected here: the service logs them.
pytestmark = [
    pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning:PIL.TiffImagePlugin"),
]

FUZZ_SETTINGS = settings(
    max_examples=600,
    deadline=None,  # time is checked below, against a bound that fits this machine
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

raise_pillow_limit_to(DEFAULT_MAX_PIXELS)  # what the app does at start-up


def sample_image() -> np.ndarray:
    """A 28x28 garment-like picture: a bright blob on black, with some texture."""
    y, x = np.mgrid[0:28, 0:28]
    blob = np.exp(-((x - 14) ** 2 + (y - 12) ** 2) / 60.0) * 230
    return (blob + (x * y) % 17).clip(0, 255).astype(np.uint8)


def encoded(image_format: str, mode: str = "L", **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(sample_image()).convert(mode).save(buffer, image_format, **options)
    return buffer.getvalue()


VALID_FILES = {
    "PNG": encoded("PNG"),
    "PNG-RGBA": encoded("PNG", "RGBA"),
    "JPEG": encoded("JPEG", "RGB", quality=80),
    "GIF": encoded("GIF", "P"),
    "BMP": encoded("BMP", "RGB"),
    "TIFF": encoded("TIFF"),
    "TIFF-LZW": encoded("TIFF", "RGB", compression="tiff_lzw"),
    "WEBP": encoded("WEBP", "RGB", lossless=True),
}


def decode_and_preprocess(data: bytes) -> None:
    """The property: a 4xx `ApiError` or a valid model input, within time and memory."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        try:
            decoded = decode_image(data, DEFAULT_MAX_PIXELS)
        except ApiError as error:
            assert 400 <= error.status < 500, (error.status, error.code)
            assert error.code and error.message
        else:
            assert decoded.gray.dtype == np.uint8 and decoded.gray.ndim == 2
            assert decoded.gray.size <= DEFAULT_MAX_PIXELS
            model_input, _report = to_model_input(decoded.gray)
            assert model_input.shape == (28, 28)
            assert np.isfinite(model_input).all()
            assert model_input.min() >= 0.0 and model_input.max() <= 1.0
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < SECONDS_PER_INPUT, f"{elapsed:.2f} s for {len(data)} bytes"
    assert peak < TRACED_BYTES_PER_INPUT, f"{peak / 2**20:.0f} MiB for {len(data)} bytes"


# --- strategies -----------------------------------------------------------------------------


@st.composite
def mutated_files(draw: st.DrawFn) -> bytes:
    """A valid file of one format with a few random edits: the decoder gets past the magic
    bytes and meets damage deeper inside."""
    data = bytearray(VALID_FILES[draw(st.sampled_from(sorted(VALID_FILES)))])
    for _ in range(draw(st.integers(1, 4))):
        edit = draw(st.sampled_from(["flip", "overwrite", "truncate", "insert", "delete"]))
        position = draw(st.integers(0, max(0, len(data) - 1)))
        if edit == "flip" and data:
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif edit == "overwrite":
            patch = draw(st.binary(min_size=1, max_size=8))
            data[position : position + len(patch)] = patch
        elif edit == "truncate":
            del data[position:]
        elif edit == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=64))
        else:
            del data[position : position + draw(st.integers(1, 64))]
    return bytes(data)


def png_with_size(width: int, height: int) -> bytes:
    """The valid PNG with its IHDR rewritten (checksum included) to declare width x height."""
    data = bytearray(VALID_FILES["PNG"])
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def gif_with_size(width: int, height: int) -> bytes:
    data = bytearray(VALID_FILES["GIF"])
    data[6:10] = struct.pack("<HH", width, height)  # logical screen
    descriptor = data.index(b",", 13)  # image descriptor (after the colour table)
    data[descriptor + 5 : descriptor + 9] = struct.pack("<HH", width, height)
    return bytes(data)


def bmp_with_size(width: int, height: int) -> bytes:
    data = bytearray(VALID_FILES["BMP"])
    data[18:26] = struct.pack("<ii", width, height)  # negative height: top-down rows
    return bytes(data)


def jpeg_with_size(width: int, height: int) -> bytes:
    data = bytearray(VALID_FILES["JPEG"])
    frame = data.index(b"\xff\xc0")  # baseline start-of-frame
    data[frame + 5 : frame + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def webp_with_size(width: int, height: int) -> bytes:
    """The lossless WebP with its 14-bit VP8L dimensions rewritten."""
    data = bytearray(VALID_FILES["WEBP"])
    bits = int.from_bytes(data[21:25], "little")
    bits = (bits & ~0x0FFFFFFF) | ((width - 1) & 0x3FFF) | (((height - 1) & 0x3FFF) << 14)
    data[21:25] = bits.to_bytes(4, "little")
    return bytes(data)


def tiff_with_size(width: int, height: int) -> bytes:
    """A minimal uncompressed 8-bit gray TIFF that declares width x height and holds 64 bytes."""
    entries = [
        (256, 4, width),  # ImageWidth (LONG)
        (257, 4, height),  # ImageLength
        (258, 3, 8),  # BitsPerSample
        (259, 3, 1),  # Compression: none
        (262, 3, 1),  # Photometric: black is zero
        (273, 4, 8),  # StripOffsets: right after the header
        (277, 3, 1),  # SamplesPerPixel
        (278, 4, height),  # RowsPerStrip
        (279, 4, 64),  # StripByteCounts
    ]
    ifd_offset = 8 + 64
    ifd = struct.pack("<H", len(entries))
    for tag, kind, value in entries:
        ifd += struct.pack("<HHI", tag, kind, 1)
        ifd += struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
    return b"II*\x00" + struct.pack("<I", ifd_offset) + bytes(64) + ifd + b"\x00\x00\x00\x00"


SIZE_PATCHERS: dict[str, tuple[Callable[[int, int], bytes], int]] = {
    # format: (patcher, largest value its size fields hold)
    "PNG": (png_with_size, 2**31 - 1),
    "GIF": (gif_with_size, 2**16 - 1),
    "BMP": (bmp_with_size, 2**31 - 1),
    "JPEG": (jpeg_with_size, 2**16 - 1),
    "WEBP": (webp_with_size, 2**14),
    "TIFF": (tiff_with_size, 2**32 - 1),
}


@st.composite
def files_declaring_absurd_sizes(draw: st.DrawFn) -> bytes:
    patcher, largest = SIZE_PATCHERS[draw(st.sampled_from(sorted(SIZE_PATCHERS)))]
    dimension = st.one_of(
        st.sampled_from([1, 2, 28, 4096, 4097, 65535, largest]),
        st.integers(1, largest),
    )
    width, height = draw(dimension), draw(dimension)
    if patcher is bmp_with_size and draw(st.booleans()):
        height = -min(height, 2**31 - 1)
    return patcher(width, height)


# --- the properties -------------------------------------------------------------------------


@FUZZ_SETTINGS
@given(st.binary(max_size=4096))
def test_arbitrary_bytes(data: bytes) -> None:
    decode_and_preprocess(data)


@FUZZ_SETTINGS
@given(st.sampled_from(sorted(VALID_FILES)), st.data())
def test_a_valid_beginning_then_garbage(name: str, extra: st.DataObject) -> None:
    """The start of a real file (its magic bytes at least), then random bytes: the format's
    own parser runs on them."""
    data = VALID_FILES[name]
    cut = extra.draw(st.integers(1, len(data)))
    decode_and_preprocess(data[:cut] + extra.draw(st.binary(max_size=512)))


@settings(FUZZ_SETTINGS, max_examples=1500)
@given(mutated_files())
def test_mutated_valid_files(data: bytes) -> None:
    decode_and_preprocess(data)


@settings(FUZZ_SETTINGS, max_examples=800)
@given(files_declaring_absurd_sizes())
def test_absurd_declared_sizes(data: bytes) -> None:
    decode_and_preprocess(data)


@pytest.mark.parametrize("name", sorted(VALID_FILES))
def test_the_seed_files_themselves_decode(name: str) -> None:
    """The mutations start from files the service accepts: the fuzzing reaches the decoders."""
    model_input, _ = to_model_input(decode_image(VALID_FILES[name], DEFAULT_MAX_PIXELS).gray)
    assert model_input.shape == (28, 28)


@pytest.mark.parametrize("patcher", [patcher for patcher, _ in SIZE_PATCHERS.values()])
def test_a_declared_size_over_max_pixels_is_refused_before_decoding(patcher) -> None:
    with pytest.raises(ApiError) as refused:
        decode_image(patcher(8192, 8192), DEFAULT_MAX_PIXELS)
    assert refused.value.status == 413


def test_fuzzing_left_the_process_within_its_memory_bound() -> None:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux
    assert peak < PROCESS_PEAK_RSS, f"peak resident size {peak / 2**20:.0f} MiB"
