"""`cropwatch models evaluate` and `models activate`, run as a user runs them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image

from inference.bundle import active_bundle_path
from inference.evaluation import outcome
from inference.lesion_patch_model import load_photo_model
from inference.photo import PhotoScorer

PHOTOS = Path(__file__).resolve().parents[2] / "datasets" / "data" / "rice_leaf_photos"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], capture_output=True, text=True, timeout=300)


def test_models_evaluate_runs_the_served_pipeline(tmp_path: Path) -> None:
    data = tmp_path / "photos"
    picked = {}
    for c in ("bacterial_leaf_blight", "blast", "brown_spot"):
        (data / c).mkdir(parents=True)
        picked[c] = sorted((PHOTOS / c).iterdir())[:4]
        for p in picked[c]:
            shutil.copy(p, data / c / p.name)
    (data / "healthy").mkdir()
    # a black frame in a class folder: the served pipeline refuses it, the network alone still answers
    Image.new("RGB", (400, 300)).save(data / "blast" / "black.jpg")
    bundle = active_bundle_path("field_photo")
    r = cli("models", "evaluate", str(bundle), str(data))
    assert r.returncode == 0, r.stderr
    assert "right" in r.stdout and "refused" in r.stdout and "macro-F1" in r.stdout and "ignored folders" in r.stdout
    # a file that is no photo is named, not only counted; a class folder named in Vietnamese is the class
    (data / "blast" / "notes.jpg").write_text("not a photo")
    shutil.move(data / "brown_spot", data / "Bệnh đốm nâu")
    r = cli("models", "evaluate", str(bundle), str(data))
    assert r.returncode == 0, r.stderr
    assert "unreadable, counted refused:" in r.stdout and "notes.jpg" in r.stdout
    m = json.loads(cli("models", "evaluate", str(bundle), str(data), "--json").stdout)
    assert sum(m["per_class"]["brown_spot"][k] for k in ("right", "wrong", "unsure", "refused")) == 4
    assert "Bệnh đốm nâu" not in m.get("ignored_folders", []) and "unknown_classes" not in m
    (data / "blast" / "notes.jpg").unlink()
    shutil.move(data / "Bệnh đốm nâu", data / "brown_spot")

    m = json.loads(cli("models", "evaluate", str(bundle), str(data), "--json").stdout)
    scorer = PhotoScorer(load_photo_model(bundle))
    expected = {"right": 0, "wrong": 0, "unsure": 0, "refused": 0}
    for c in picked:
        for p in sorted((data / c).iterdir()):
            d = scorer.score(p.read_bytes()).diagnosis
            expected[outcome(c, d.label, d.status)] += 1
    assert m["mode"] == "pipeline" and m["n"] == 13 and m["totals"] == expected
    assert m["per_class"]["blast"]["refused"] >= 1  # the black frame
    # photos the bundle trained on are counted and said (the served bundle trained on every Sethy photo outside the
    # frozen benchmark), so a figure on them is not taken for a held-out one
    from datasets.benchmark import benchmark_path, read_benchmark

    held_out = {Path(r.path).name for r in read_benchmark(benchmark_path("field_photo-v1"))}
    trained = sum(p.name not in held_out for c in picked for p in picked[c])
    assert trained > 0 and m["photos_in_training"] == trained
    assert "were in this bundle's training data" in r.stdout
    assert m["accuracy"] == round(expected["right"] / 13, 4)

    net = json.loads(cli("models", "evaluate", str(bundle), str(data), "--network-only", "--json").stdout)
    assert net["mode"] == "network_only" and net["totals"]["refused"] == 0 and net["n"] == 13


def test_models_evaluate_reads_folder_spellings_and_says_what_is_missing(tmp_path: Path) -> None:
    """"Blast/" is blast; a class with no photos is named (it counts F1 0 in the macro-F1); a folder of typos only
    names what it found."""
    data = tmp_path / "photos"
    (data / "Blast").mkdir(parents=True)
    for p in sorted((PHOTOS / "blast").iterdir())[:2]:
        shutil.copy(p, data / "Blast" / p.name)
    bundle = str(active_bundle_path("field_photo"))
    m = json.loads(cli("models", "evaluate", bundle, str(data), "--json").stdout)
    assert m["n"] == 2 and m["classes_without_photos"] == ["bacterial_leaf_blight", "brown_spot"]
    r = cli("models", "evaluate", bundle, str(data))
    assert "no photos of bacterial_leaf_blight, brown_spot" in r.stdout and "only 2 photos" in r.stdout
    typos = tmp_path / "typos"
    (typos / "brwn_spot").mkdir(parents=True)
    r = cli("models", "evaluate", bundle, str(typos))
    assert r.returncode != 0 and "its sub-folders: brwn_spot" in r.stderr


def test_models_evaluate_refuses_a_folder_without_bundle(tmp_path: Path) -> None:
    r = cli("models", "evaluate", str(tmp_path), str(tmp_path))
    assert r.returncode == 2 and "not a model bundle" in r.stderr


def test_models_activate_unknown_version_fails() -> None:
    r = cli("models", "activate", "field_photo", "no-such-version")
    assert r.returncode == 2 and "not a model bundle" in r.stderr


def test_photo_score_json_contract(tmp_path: Path) -> None:
    from tests.data.make_photos import real_photo

    bad = tmp_path / "notes.jpg"
    bad.write_text("not a photo")
    r = cli("photo", "score", str(real_photo("blast", 0)), str(real_photo("brown_spot", 1)), str(bad), "--json",
            "--draw", str(tmp_path / "drawn"), "--masks", str(tmp_path / "masks"))
    assert r.returncode == 1  # one file failed
    # the masks of what was measured, at each photo's size, none for the file that failed and no partial file
    names = sorted(p.name for p in (tmp_path / "masks").iterdir())
    assert names == sorted(f"{real_photo(c, i).name}.{k}.png" for c, i in (("blast", 0), ("brown_spot", 1))
                           for k in ("leaf", "lesions", "canopy"))
    with Image.open(tmp_path / "masks" / f"{real_photo('blast', 0).name}.leaf.png") as leaf, \
            Image.open(real_photo("blast", 0)) as photo:
        assert leaf.size == photo.size and leaf.mode == "L"
    # what each severity measured, drawn beside (none for the file that failed)
    assert sorted(p.name for p in (tmp_path / "drawn").iterdir()) == sorted(
        f"{real_photo(c, i).name}.lesions.jpg" for c, i in (("blast", 0), ("brown_spot", 1)))
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(lines) == 3
    for obj in lines[:2]:
        assert obj["path"].endswith((".jpg", ".JPG"))
        assert obj["diagnosis"]["label"] in {"bacterial_leaf_blight", "blast", "brown_spot", "unsure"}
        assert 0 <= obj["diagnosis"]["confidence"] <= 1
        assert obj["severity"]["ses"] in {0, 1, 3, 5, 7, 9} and obj["severity"]["affected_pct"] >= 0
        assert 0 <= obj["growth"]["score"] <= 100
        assert obj["quality"]["ok"] is True
    assert lines[2]["status"] == 415 and "not a JPEG" in lines[2]["error"]


def test_photo_score_takes_folders_and_never_writes_two_photos_masks_under_one_name(tmp_path: Path) -> None:
    """A folder of photos was refused ("is a directory"); two photos named alike in two folders wrote their masks
    under one name, the second over the first. A folder's photos keep their path below it; two files given that
    would share a name end the command before any work."""
    from tests.data.make_photos import real_photo

    data = tmp_path / "set"
    for sub, (c, i) in (("field_a", ("blast", 0)), ("field_b", ("brown_spot", 1))):
        (data / sub).mkdir(parents=True)
        shutil.copy(real_photo(c, i), data / sub / "IMG_0001.jpg")
    (data / "field_a" / "readme.txt").write_text("not a photo: not scored")
    r = cli("photo", "score", str(data), "--json", "--masks", str(tmp_path / "masks"))
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 2
    written = sorted(p.relative_to(tmp_path / "masks").as_posix() for p in (tmp_path / "masks").rglob("*.png"))
    assert written == [f"{sub}/IMG_0001.jpg.{k}.png" for sub in ("field_a", "field_b")
                       for k in ("canopy", "leaf", "lesions")]
    r = cli("photo", "score", str(data / "field_a" / "IMG_0001.jpg"), str(data / "field_b" / "IMG_0001.jpg"),
            "--masks", str(tmp_path / "again"))
    assert r.returncode == 2 and "would be written under one name" in r.stderr
    assert not (tmp_path / "again").exists()
    # without masks or drawings nothing is written: photos named alike are scored as before
    r = cli("photo", "score", str(data / "field_a" / "IMG_0001.jpg"), str(data / "field_b" / "IMG_0001.jpg"), "--json")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 2
    # masks written inside the folder scored are no photos of it the next time
    r = cli("photo", "score", str(data), "--json", "--masks", str(data / "masks"))
    r = cli("photo", "score", str(data), "--json", "--masks", str(data / "masks"))
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 2


def test_models_evaluate_says_what_it_cannot_score(tmp_path: Path) -> None:
    """A drone bundle is named as such (a KeyError traceback before); with --network-only a file that is no image
    is counted refused, as the served pipeline counts it (the whole evaluation was lost to a traceback)."""
    data = tmp_path / "photos"
    (data / "blast").mkdir(parents=True)
    shutil.copy(sorted((PHOTOS / "blast").iterdir())[0], data / "blast")
    (data / "blast" / "fake.jpg").write_text("not a photo")
    from tests.data.make_photos import png_header_bomb

    # a few KB announcing 10 gigapixels: serving refuses it by its header; --network-only ended in a traceback
    (data / "blast" / "bomb.png").write_bytes(png_header_bomb())
    drone = active_bundle_path("drone_damage")
    r = cli("models", "evaluate", str(drone), str(data))
    assert r.returncode == 2 and "drone" in (r.stdout + r.stderr) and "Traceback" not in r.stderr
    r = cli("models", "evaluate", str(active_bundle_path("field_photo")), str(data), "--network-only", "--json")
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    assert m["per_class"]["blast"]["refused"] == 2 and "Traceback" not in r.stderr
    assert any("bomb.png" in u["path"] and "pixels" in u["error"] for u in m["unreadable"])


def test_models_compare_refuses_an_empty_benchmark(tmp_path: Path) -> None:
    """Nothing compared says nothing: an empty scene folder is refused, never "may replace"."""
    (tmp_path / "empty").mkdir()
    r = cli("models", "compare", "drone_damage", "1.4.1", "1.3.0", "--benchmark", str(tmp_path / "empty"))
    assert r.returncode != 0 and "no labelled scene" in (r.stdout + r.stderr) and "may replace" not in r.stdout


def test_models_evaluate_scores_the_test_split_of_a_feedback_export(tmp_path: Path) -> None:
    """--split test scores only the photos the export's manifest puts in its test split (training leaves them out);
    a folder without a manifest says what --split needs."""
    import csv

    data = tmp_path / "fb"
    (data / "blast").mkdir(parents=True)
    rows = []
    for i, p in enumerate(sorted((PHOTOS / "blast").iterdir())[:3]):
        shutil.copy(p, data / "blast" / p.name)
        rows.append({"path": f"blast/{p.name}", "label": "blast", "split": "test" if i == 0 else "train"})
    with (data / "manifest.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, ["path", "label", "split"])
        w.writeheader()
        w.writerows(rows)
    bundle = str(active_bundle_path("field_photo"))
    r = cli("models", "evaluate", bundle, str(data), "--split", "test", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["n"] == 1
    (data / "manifest.csv").unlink()
    r = cli("models", "evaluate", bundle, str(data), "--split", "test")
    assert r.returncode == 2 and "manifest.csv" in r.stderr


def test_models_evaluate_scores_a_disease_the_bundle_does_not_know(tmp_path: Path) -> None:
    """A folder of photos of an unknown disease alone ("Rice tungro/", the registry's tungro) was refused as "no
    photos in sub-folders named ..."; beside known classes it was ignored. Now it is scored apart: every answer
    naming one of the bundle's diseases is wrong, counted with the disease named."""
    data = tmp_path / "photos"
    (data / "Rice tungro").mkdir(parents=True)
    for p in sorted((PHOTOS / "blast").iterdir())[:3]:  # stand-ins: what matters is how the answers are counted
        shutil.copy(p, data / "Rice tungro" / p.name)
    bundle = active_bundle_path("field_photo")
    r = cli("models", "evaluate", str(bundle), str(data))
    assert r.returncode == 0, r.stderr
    assert "classes this bundle does not know" in r.stdout and "tungro" in r.stdout
    m = json.loads(cli("models", "evaluate", str(bundle), str(data), "--json").stdout)
    scorer = PhotoScorer(load_photo_model(bundle))
    named = sum(scorer.score(p.read_bytes()).diagnosis.status == "diagnosed" for p in (data / "Rice tungro").iterdir())
    t = m["unknown_classes"]["tungro"]
    assert m["n"] == 0 and t["n"] == 3 and t["named"] == named == sum(t["named_as"].values())
    assert t["named"] + t["unsure"] + t["no_symptom"] + t["refused"] == 3


def test_models_evaluate_scores_the_whole_image_bundles_the_readme_names(tmp_path: Path) -> None:
    """The README's example, `models evaluate models/field_photo/1.1.0 my_photos/`, was refused: the bundle's model
    name is field_photo_efficientnet_lite0, and the check read the name instead of the task."""
    data = tmp_path / "photos" / "blast"
    data.mkdir(parents=True)
    for p in sorted((PHOTOS / "blast").iterdir())[:2]:
        shutil.copy(p, data / p.name)
    bundle = Path(__file__).resolve().parents[2] / "models" / "field_photo" / "1.1.0"
    r = cli("models", "evaluate", str(bundle), str(tmp_path / "photos"), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["n"] == 2


def test_models_evaluate_knows_the_labels_agronomists_added(tmp_path: Path) -> None:
    """A label added with `cropwatch labels add` lives in the database: a folder named after it ("Leaf smut") is a
    class the bundle does not know, scored apart without --unknown (it was ignored)."""
    import os

    env = {**os.environ, "CROPWATCH_DATA_DIR": str(tmp_path / "var")}
    env.pop("CROPWATCH_DATABASE_URL", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "api.cli", *args], capture_output=True, text=True, timeout=300,
                              env=env)

    data = tmp_path / "photos" / "Leaf smut"
    data.mkdir(parents=True)
    shutil.copy(sorted((PHOTOS / "blast").iterdir())[0], data)
    bundle = str(active_bundle_path("field_photo"))
    before = run("models", "evaluate", bundle, str(tmp_path / "photos"), "--json")
    assert before.returncode == 2 and "Leaf smut" in before.stderr  # nothing to score: refused, naming the folder
    r = run("labels", "add", "leaf_smut", "--vi", "Bệnh than đen", "--en", "Leaf smut")
    assert r.returncode == 0, r.stderr
    m = json.loads(run("models", "evaluate", bundle, str(tmp_path / "photos"), "--json").stdout)
    assert m["n"] == 0 and m["unknown_classes"]["leaf_smut"]["n"] == 1
