"""Extra dataset folders read as the class registry spells its classes: a folder named "Blast" or "Bệnh đạo ôn" is
the class blast, not a new class beside it (a new user's first run trained a served model with both "Blast" and
"blast"); a class the registry does not know is kept, with a warning."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from models.extra_datasets import check_classes, read_extra_dataset


def _folder(root: Path, names: dict[str, int]) -> Path:
    for name, n in names.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(np.full((8, 8, 3), 90 + i, np.uint8)).save(root / name / f"{i}.jpg")
    return root


def test_folder_names_are_read_as_the_registry_spells_them(tmp_path: Path, capsys) -> None:
    rows = read_extra_dataset(_folder(tmp_path / "extra", {"Blast": 2, "Bệnh đốm nâu": 1, "brown spot": 1,
                                                            "leaf_smut": 1}))
    assert sorted({r.label for r in rows}) == ["blast", "brown_spot", "leaf_smut"]
    assert sum(r.label == "brown_spot" for r in rows) == 2
    assert "folder 'Blast'" in capsys.readouterr().err


def test_photos_in_a_class_folders_sub_folders_are_read(tmp_path: Path) -> None:
    """`models evaluate` scores a class folder's sub-folders (by field, by day); training read the top level only, so
    a folder evaluated at N photos trained on fewer, silently."""
    root = _folder(tmp_path / "extra", {"blast": 1})
    (root / "blast" / "field_2" / ".thumbs").mkdir(parents=True)
    Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(root / "blast" / "field_2" / "b.jpg")
    Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(root / "blast" / "field_2" / ".thumbs" / "b.jpg")
    rows = read_extra_dataset(root)
    assert sorted(Path(r.path).relative_to(root).as_posix() for r in rows) == ["blast/0.jpg", "blast/field_2/b.jpg"]
    assert len({r.group for r in rows}) == 2


def test_a_class_the_registry_does_not_know_is_kept_with_a_warning(tmp_path: Path) -> None:
    rows = read_extra_dataset(_folder(tmp_path / "extra", {"leaf_smut": 2, "blast": 2}))
    check = check_classes(rows, ["blast"], min_examples=2)
    assert check.classes == ["blast", "leaf_smut"]
    assert any("'leaf_smut' is not in the label registry" in w for w in check.warnings)
    assert not any("'blast' is not in the label registry" in w for w in check.warnings)


def test_a_label_the_services_registry_holds_is_no_misspelling(tmp_path: Path) -> None:
    """A label added on /review/ or by `cropwatch labels add` lives in the service's database, not in the registry
    file training reads: the export's dataset.json names it (registered_labels), and training no longer warns that it
    may be misspelt."""
    import json

    from models.extra_datasets import registered_labels

    folder = _folder(tmp_path / "fb", {"leaf_smut": 2, "blast": 2})
    (folder / "dataset.json").write_text(json.dumps({"kind": "cropwatch-feedback", "registered_labels": {
        "leaf_smut": {"kind": "disease", "name_en": "Leaf smut", "name_vi": "Bệnh than đen"}}}))
    assert registered_labels(folder) == {"leaf_smut"} and registered_labels(tmp_path) == set()
    check = check_classes(read_extra_dataset(folder), ["blast"], min_examples=2, registered=registered_labels(folder))
    assert check.classes == ["blast", "leaf_smut"]
    assert not any("label registry" in w for w in check.warnings)


def test_a_file_that_cannot_be_read_is_named_before_training(tmp_path: Path) -> None:
    """A text file named .jpg or a cut-off JPEG in an extra folder ended a training run late in a traceback that did
    not name the file; `unreadable` says why before any work, and passes a real photo."""
    from models.extra_datasets import unreadable
    from tests.data.make_photos import real_photo

    cut = tmp_path / "cut.jpg"
    cut.write_bytes(real_photo("blast", 0).read_bytes()[:3000])
    text = tmp_path / "readme.jpg"
    text.write_text("not a photo")
    assert unreadable(real_photo("blast", 0)) is None
    assert "truncated" in (unreadable(cut) or "") and "cannot identify" in (unreadable(text) or "")
