"""Safe photo decoding: limits before decoding, EXIF orientation/GPS/time, reduced-size JPEG decode."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from api.errors import status_of
from inference.errors import BadInput
from inference.photo_io import decode_photo, sniff_format
from tests.data.make_photos import gps_jpeg, phone_size_jpeg, png_header_bomb, real_photo, truncated


def test_exif_gps_time_and_orientation() -> None:
    data = gps_jpeg(real_photo(), 9.5602, 105.9705, orientation=6)  # 6: rotate 90 degrees clockwise to view
    p = decode_photo(data, short_side=448)
    assert p.lat == pytest.approx(9.5602, abs=1e-5) and p.lon == pytest.approx(105.9705, abs=1e-5)
    assert p.taken_at is not None and p.taken_at.year == 2026
    wide = gps_jpeg(real_photo(), 9.5, 105.9, orientation=1, scale=1.0)
    src = Image.open(io.BytesIO(wide))
    # make a non-square source so that orientation is visible in the shape
    buf = io.BytesIO()
    src.crop((0, 0, 300, 200)).save(buf, "JPEG", exif=Image.open(io.BytesIO(data)).getexif())
    q = decode_photo(buf.getvalue())
    assert q.rgb.shape[:2] == (300, 200)  # stored 300 wide x 200 high, shown rotated: 200 wide x 300 high


def test_twelve_megapixel_jpeg_is_decoded_at_reduced_size() -> None:
    data = phone_size_jpeg(real_photo(), 12.0)
    p = decode_photo(data, short_side=448)
    assert p.original_width * p.original_height > 11e6
    assert min(p.rgb.shape[:2]) == 448 and p.decode_scale < 0.2


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (b"", 400, "empty"),
        (b"hello, this is text", 415, "not a JPEG"),
        (png_header_bomb(), 413, "megapixels"),
        (png_header_bomb(10_000, 10_000), 413, "100 megapixels"),
        (png_header_bomb(100, 60), 422, "only 100x60"),
    ],
)
def test_bad_photos_are_refused(data: bytes, status: int, words: str) -> None:
    with pytest.raises(BadInput, match=words) as e:
        decode_photo(data)
    assert status_of(e.value) == status


def test_a_truncated_png_is_refused_as_damaged() -> None:
    """A PNG cut in half: Pillow looks for its EXIF after the pixels, so reading it decoded the cut file and raised
    OSError, a 500 (found on the farmer's page)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.open(real_photo()).convert("RGB").save(buf, "PNG")
    with pytest.raises(BadInput) as e:
        decode_photo(truncated(buf.getvalue(), 0.5))
    assert e.value.reason in ("photo_damaged", "photo_unreadable")


def test_truncated_jpeg_is_refused() -> None:
    with pytest.raises(BadInput, match="damaged or truncated|cannot be read") as e:
        decode_photo(truncated(real_photo().read_bytes(), 0.4))
    assert status_of(e.value) == 422


def test_too_large_file_is_refused() -> None:
    with pytest.raises(BadInput) as e:
        decode_photo(b"\xff\xd8\xff" + b"\0" * 2000, max_bytes=1000)
    assert status_of(e.value) == 413


def test_sniff() -> None:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buf, "WEBP")
    assert sniff_format(buf.getvalue()[:16]) == "WEBP"
    assert sniff_format(real_photo().read_bytes()[:16]) == "JPEG"


def test_heic_photo_is_decoded() -> None:
    pytest.importorskip("pillow_heif")
    im = Image.open(real_photo("blast", 0)).convert("RGB")
    buf = io.BytesIO()
    try:
        im.save(buf, format="HEIF", quality=80)
    except (KeyError, OSError) as exc:  # no HEIF encoder in this build: decoding is still what matters
        pytest.skip(f"cannot write HEIC here: {exc}")
    p = decode_photo(buf.getvalue())
    assert p.format == "HEIF" and p.rgb.shape == (300, 300, 3)


def test_test_time_crops_cover_a_long_leaf() -> None:
    from inference.field_photo_model import preprocess, preprocess_crops

    meta = {"input_size": 64, "normalization": {"mean": [0.5] * 3, "std": [0.5] * 3}}
    long_leaf = np.zeros((100, 400, 3), np.uint8)
    long_leaf[:, :100] = 255  # the left end differs from the middle
    crops = preprocess_crops(long_leaf, meta, 4)
    assert crops.shape == (4, 3, 64, 64)
    assert crops[0].mean() > crops[1].mean()  # the first crop sees the left end
    assert np.allclose(preprocess_crops(long_leaf, meta, 1)[0], preprocess(long_leaf, meta))
    assert preprocess_crops(np.zeros((64, 64, 3), np.uint8), meta, 4).shape[0] == 1  # a square image: one crop


def test_error_messages_show_no_server_paths() -> None:
    from inference.errors import reason

    msg = reason(OSError(2, "No such file or directory", "/var/lib/cropwatch/flights/.incoming/ab12/ortho.tif"))
    assert "/var/lib" not in msg and "ortho.tif" in msg
    assert "0x7f" not in reason(ValueError("bad <rasterio.io.DatasetReader object at 0x7f00ab12>"))


@pytest.mark.parametrize("side", [360, 640])
def test_training_decodes_a_file_as_serving_decodes_its_upload(tmp_path, side: int) -> None:
    """Training reads its photos with decode_rgb, serving its uploads with decode_photo: the same pixels, for a
    12 MP phone JPEG (libjpeg's 1/8 or 1/4 DCT scale), a small one and a PNG."""
    from inference.photo_io import decode_rgb

    small = tmp_path / "small.png"
    Image.open(real_photo()).save(small)
    for name, data in [("12mp.jpg", phone_size_jpeg(real_photo(), 12.0)), ("leaf.jpg", real_photo().read_bytes()),
                       ("small.png", small.read_bytes())]:
        path = tmp_path / name
        path.write_bytes(data)
        served = decode_photo(data, short_side=side).rgb
        assert np.array_equal(decode_rgb(path, side), served), name
    assert min(decode_rgb(tmp_path / "12mp.jpg", side).shape[:2]) == side


def test_stored_size_refuses_a_turning_exif_orientation(tmp_path) -> None:
    """Annotation boxes are in stored pixels: a photo whose EXIF orientation would turn them is refused loudly."""
    from inference.photo_io import stored_size

    upright, turned = tmp_path / "upright.jpg", tmp_path / "turned.jpg"
    upright.write_bytes(gps_jpeg(real_photo(), 9.5, 105.9, orientation=1))
    turned.write_bytes(gps_jpeg(real_photo(), 9.5, 105.9, orientation=6))
    assert stored_size(upright) == Image.open(upright).size
    with pytest.raises(ValueError, match="EXIF orientation"):
        stored_size(turned)


def test_a_multi_picture_phone_jpeg_is_decoded_at_reduced_size(tmp_path) -> None:
    """Many phones write MPO (a JPEG with a second picture); Pillow opens it as 'MPO', and it must still be decoded
    by libjpeg's DCT scaling, the same way in serving and training."""
    from inference.photo_io import decode_rgb

    im = Image.open(real_photo()).convert("RGB").resize((2400, 1800))
    buf = io.BytesIO()
    im.save(buf, "MPO", save_all=True, append_images=[im.copy()])
    assert Image.open(io.BytesIO(buf.getvalue())).format == "MPO"
    p = decode_photo(buf.getvalue(), short_side=360)
    assert min(p.rgb.shape[:2]) == 360 and p.format == "JPEG"
    path = tmp_path / "mpo.jpg"
    path.write_bytes(buf.getvalue())
    assert np.array_equal(decode_rgb(path, 360), p.rgb)
    draft = Image.open(io.BytesIO(buf.getvalue()))
    draft.draft("RGB", (360, 360))
    assert draft.size == (600, 450)  # 1/4 scale: the full 2400 x 1800 picture is never decoded
    scaled = np.asarray(draft.convert("RGB").resize((480, 360), Image.Resampling.BOX))
    full = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB").resize((480, 360), Image.Resampling.BOX))
    assert np.array_equal(p.rgb, scaled) and not np.array_equal(p.rgb, full)
