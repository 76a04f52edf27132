"""Content-addressed storage under concurrent uploads."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.storage import store_bytes


def test_a_folder_made_by_another_upload_meanwhile_is_not_an_error(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # Two uploads whose files share a folder: the second checked before the first created it. Before the fix the
    # second failed with FileExistsError (a 500 under 16 concurrent uploads).
    rel, _, created = store_bytes(tmp_path, "photos", b"first", ".jpg")
    monkeypatch.setattr(Path, "exists", lambda self: False)  # every check comes too early
    rel2, _, created2 = store_bytes(tmp_path, "photos", b"first", ".jpg")
    assert rel2 == rel and created and created2 and (tmp_path / rel).read_bytes() == b"first"

