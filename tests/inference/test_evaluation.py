"""The evaluation's bookkeeping: outcomes per answer, and metrics in which a non-answer is never right."""

from __future__ import annotations

import pytest

from inference.evaluation import labelled_photos, outcome, summarise

CLASSES = ["a", "b", "c"]


@pytest.mark.parametrize(
    ("true", "label", "status", "expected"),
    [("a", "a", "diagnosed", "right"), ("a", "b", "diagnosed", "wrong"), ("a", "unsure", "unsure", "unsure"),
     ("a", "unsure", "no_symptom", "unsure"), ("a", "unsure", "field_patch", "unsure"),
     ("a", "unsure", "retake", "refused"), ("a", "unsure", "refused", "refused")],
)
def test_outcome(true: str, label: str, status: str, expected: str) -> None:
    assert outcome(true, label, status) == expected


def test_unsure_counts_as_wrong_in_macro_f1() -> None:
    rows = [("a", "a", "right"), ("a", "unsure", "unsure"), ("b", "b", "right"), ("b", "a", "wrong"),
            ("c", "unsure", "refused"), ("c", "c", "right")]
    m = summarise(CLASSES, rows)
    assert m["totals"] == {"right": 3, "wrong": 1, "unsure": 1, "refused": 1}
    assert m["accuracy"] == 0.5 and m["answered_accuracy"] == 0.75
    assert m["per_class"]["a"]["right"] == 1 and m["per_class"]["a"]["unsure"] == 1
    # class a: precision 1/2 (one b called a), recall 1/2 -> F1 0.5; b: P 1, R 1/2 -> 2/3; c: P 1, R 1/2 -> 2/3
    assert m["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 2 / 3) / 3, abs=1e-4)


def test_all_unsure_scores_zero() -> None:
    m = summarise(CLASSES, [(c, "unsure", "unsure") for c in CLASSES])
    assert m["macro_f1"] == 0 and m["accuracy"] == 0 and m["answered_accuracy"] is None


def test_labelled_photos_reads_class_folders(tmp_path) -> None:
    for c in ("a", "b", "healthy"):
        (tmp_path / c).mkdir()
        (tmp_path / c / "x.jpg").write_bytes(b"")
    (tmp_path / "a" / "notes.txt").write_text("")
    photos, ignored = labelled_photos(tmp_path, CLASSES)
    assert [(p.path.name, p.label) for p in photos] == [("x.jpg", "a"), ("x.jpg", "b")] and ignored == ["healthy"]
