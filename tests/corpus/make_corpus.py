"""The bad-input corpus: hostile and broken files, each with the endpoint it is sent to, the status and the words
the answer must carry. Files are made by this seeded script (some would be large to commit):

    python -m tests.corpus.make_corpus OUT_DIR      # writes the files and cases.json

Every case must leave no row and no file behind (tests/corpus/test_corpus.py).
"""

from __future__ import annotations

import io
import json
import math
import struct
import sys
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

from tests.data.make_photos import png_header_bomb, real_photo, truncated
from tests.data.make_rasters import broken

AREA = "VN-STOR-0001"


@dataclass
class Case:
    name: str
    endpoint: str  # photos | flights | areas_import | damage_raster | areas
    file: str | None  # a file in the corpus folder, or None for a JSON body
    status: int
    words: str
    form: dict[str, str] = field(default_factory=dict)
    json_body: dict | None = None


def _geojson_ring(n: int) -> list[list[float]]:
    ring = [[105.97 + 0.001 * math.cos(2 * math.pi * k / n), 9.56 + 0.001 * math.sin(2 * math.pi * k / n)]
            for k in range(n)]
    return [*ring, ring[0]]


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def photo_cases(out: Path) -> list[Case]:
    good = real_photo().read_bytes()
    files = {"text.jpg": b"just some text", "truncated.jpg": truncated(good, 0.4), "bomb.png": png_header_bomb(),
             "100mp.png": png_header_bomb(10_000, 10_000), "empty.jpg": b"", "tiny.png": png_header_bomb(100, 60),
             "zip_as_jpeg.jpg": _zip({"a.txt": b"x"})}
    for name, data in files.items():
        (out / name).write_bytes(data)
    form = {"area_code": AREA}
    return [Case("photo_text", "photos", "text.jpg", 415, "not a JPEG", form),
            Case("photo_truncated", "photos", "truncated.jpg", 422, "truncated", form),
            Case("photo_bomb", "photos", "bomb.png", 413, "megapixels", form),
            Case("photo_100mp", "photos", "100mp.png", 413, "megapixels", form),
            Case("photo_empty", "photos", "empty.jpg", 400, "empty", form),
            Case("photo_tiny", "photos", "tiny.png", 422, "only 100x60", form),
            Case("photo_zip", "photos", "zip_as_jpeg.jpg", 415, "not a JPEG", form)]


def _sparse(path: Path) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=40_000, height=40_000, count=3, dtype="uint8",
                       crs="EPSG:32648", transform=from_origin(580_000, 1_057_000, 0.05, 0.05), tiled=True,
                       blockxsize=256, blockysize=256, SPARSE_OK=True) as ds:
        ds.write(np.full((3, 256, 256), 90, np.uint8), window=rasterio.windows.Window(0, 0, 256, 256))
    return path


def flight_cases(out: Path) -> list[Case]:
    files = broken(out / "rasters")
    _sparse(out / "rasters" / "sparse.tif")
    form = {"area_code": AREA}
    rel = lambda k: f"rasters/{files[k].name}"  # noqa: E731
    return [Case("flight_jpeg_renamed", "flights", rel("jpeg_renamed"), 415, "not a GeoTIFF", form),
            Case("flight_no_crs", "flights", rel("no_crs"), 422, "no CRS", form),
            Case("flight_single_band", "flights", rel("single_band"), 422, "match no sensor", form),
            Case("flight_huge_truncated", "flights", rel("huge_truncated"), 413, "gigapixel", form),
            Case("flight_truncated", "flights", rel("truncated"), 422, "truncated", form),
            Case("flight_sparse", "flights", "rasters/sparse.tif", 422, "sparse", form),
            Case("damage_garbage", "damage_raster", "garbage.tif", 422, "cannot be read", form)]


def _lying_zip(tamper: str) -> bytes:
    data = bytearray(_zip({"areas.geojson": json.dumps({"type": "FeatureCollection", "features": []}).encode() * 20}))
    pos = data.find(b"PK\x01\x02")
    lh = struct.unpack_from("<I", data, pos + 42)[0]
    crc = struct.unpack_from("<I", data, pos + 16)[0]
    if tamper == "crc":
        for off in (pos + 16, lh + 14):
            struct.pack_into("<I", data, off, crc ^ 0xFFFF)
    else:
        for off in (pos + 24, lh + 22):
            struct.pack_into("<I", data, off, 3)
    return bytes(data)


def import_cases(out: Path) -> list[Case]:
    laughs = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;'
              '&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
              ']><kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><name>&lol3;</name></Placemark></kml>')
    xxe = ('<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
           '<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><name>&xxe;</name></Placemark></kml>')
    big = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {
        "code": "VN-STOR-0099", "name": "big", "crop": "rice"}, "geometry": {"type": "Polygon",
                                                                            "coordinates": [_geojson_ring(25_000)]}}]}
    files = {"empty.geojson": b"", "junk.geojson": b"\x00\x01 not json at all", "areas.txt": b"hello",
             "bad.zip": b"PK\x03\x04 truncated", "crc.zip": _lying_zip("crc"), "sizes.zip": _lying_zip("sizes"),
             "slip.zip": _zip({"../../evil.geojson": b"{}"}), "laughs.kml": laughs.encode(), "xxe.kml": xxe.encode(),
             "vertices.geojson": json.dumps(big).encode()}
    for name, data in files.items():
        (out / name).write_bytes(data)
    return [Case("import_empty", "areas_import", "empty.geojson", 400, "empty"),
            Case("import_junk", "areas_import", "junk.geojson", 422, "cannot read"),
            Case("import_txt", "areas_import", "areas.txt", 415, "unsupported file type"),
            Case("import_bad_zip", "areas_import", "bad.zip", 422, "not a readable zip"),
            Case("import_bad_crc", "areas_import", "crc.zip", 422, "damaged"),
            Case("import_lying_sizes", "areas_import", "sizes.zip", 422, "damaged"),
            Case("import_zip_slip", "areas_import", "slip.zip", 422, "outside the archive"),
            Case("import_billion_laughs", "areas_import", "laughs.kml", 422, "cannot read"),
            Case("import_xxe", "areas_import", "xxe.kml", 422, "cannot read"),
            Case("import_25k_vertices", "areas_import", "vertices.geojson", 200, "simplify")]


def body_cases() -> list[Case]:
    ring = {"type": "Polygon", "coordinates": [[1, 2, 3, 4]]}
    base = {"code": "VN-STOR-0042", "name": "Ruộng", "crop": "rice"}
    return [Case("area_numbers_ring", "areas", None, 422, "position 0", json_body={**base, "boundary": ring}),
            Case("area_null_ring", "areas", None, 422, "position 0",
                 json_body={**base, "boundary": {"type": "Polygon", "coordinates": [[None, None, None, None]]}}),
            Case("area_long_commune", "areas", None, 422, "commune",
                 json_body={**base, "commune": "x" * 150, "boundary": {"type": "Polygon",
                                                                      "coordinates": [_geojson_ring(8)]}}),
            Case("area_nul_name", "areas", None, 422, "control characters",
                 json_body={**base, "name": "a\x00b", "boundary": {"type": "Polygon",
                                                                   "coordinates": [_geojson_ring(8)]}})]


def make_corpus(out: Path) -> list[Case]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "garbage.tif").write_bytes(b"II*\x00garbage")
    cases = photo_cases(out) + flight_cases(out) + import_cases(out) + body_cases()
    (out / "cases.json").write_text(json.dumps([asdict(c) for c in cases], ensure_ascii=False, indent=1))
    return cases


if __name__ == "__main__":
    print(f"{len(make_corpus(Path(sys.argv[1])))} cases written to {sys.argv[1]}")
