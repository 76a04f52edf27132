"""`cropwatch photo score`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    import numpy as np

    from inference.photo import PhotoMasks

app = typer.Typer(help="Farmers' photos.", no_args_is_help=True)


@app.command("score")
def photo_score(
    paths: Annotated[list[Path], typer.Argument(exists=True, help="photo files, or folders: every photo in them and "
                                                              "their sub-folders")],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
    bundle: Annotated[Path | None, typer.Option(
        help="bundle dir; default: the field_photo bundle the service serves (its database's activation, else "
             "models/field_photo/ACTIVE)")] = None,
    draw: Annotated[Path | None, typer.Option(help="write DRAW/<photo name>.lesions.jpg: what each severity "
                                              "measured (leaf outlined, lesions in magenta)")] = None,
    masks: Annotated[Path | None, typer.Option(
        help="write MASKS/<photo name>.leaf.png, .lesions.png (when a severity was measured) and .canopy.png: "
             "one-channel PNGs at the photo's upright size, 255 inside, to compare with hand masks. A photo found in "
             "a folder given keeps its path below that folder (MASKS/<sub-folder>/<photo name>...)")] = None,
) -> None:
    """Score photos without a server: diagnosis, severity (SES 0-9), growth (0-100), quality, advice."""
    from tqdm import tqdm

    from api.cli.common import migrated_session
    from api.errors import status_of
    from api.services.model_registry import active_path
    from api.services.photos import make_scorer
    from api.settings import get_settings
    from inference.errors import CropwatchError

    photos = photo_list(paths, outputs=tuple(p for p in (draw, masks) if p is not None))
    settings = get_settings()
    if bundle is None:
        with migrated_session() as session:
            bundle = active_path(session, "field_photo", settings.models_dir)
    scorer = make_scorer(bundle, settings)
    failed = 0
    for path, name in tqdm(photos, desc="scoring", unit="photo", file=sys.stderr, disable=len(photos) < 2):
        try:
            data = path.read_bytes()
            scored = scorer.score_full(data, draw=draw is not None, masks=masks is not None)
            r = scored.result
            if draw is not None and scored.drawing is not None:
                (draw / name).parent.mkdir(parents=True, exist_ok=True)
                (draw / f"{name}.lesions.jpg").write_bytes(scored.drawing)
            if masks is not None and scored.masks is not None:
                write_masks(scored.masks, scorer.full_size_rgb(data), masks, name)
        except CropwatchError as exc:
            failed += 1
            if as_json:
                typer.echo(json.dumps({"path": str(path), "error": str(exc), "code": exc.code,
                                       "status": status_of(exc)}, ensure_ascii=False))
            else:
                typer.secho(f"{path}: {exc}", fg="red", err=True)
            continue
        if as_json:
            typer.echo(json.dumps({"path": str(path), **r.model_dump(mode="json")}, ensure_ascii=False))
        else:
            d, sv, g = r.diagnosis, r.severity, r.growth
            typer.echo(
                f"{path}: {d.label} ({d.status}, confidence {d.confidence:.2f}); "
                f"SES {sv.ses} ({sv.affected_pct}% of leaf, {sv.segmentation} lesions); growth {g.score} ({g.method}); "
                f"quality {'ok' if r.quality.ok else ', '.join(r.quality.issues)}\n  {r.advice.en}")
    if failed:
        raise typer.Exit(1)


def photo_list(paths: list[Path], outputs: tuple[Path, ...] = ()) -> list[tuple[Path, str]]:
    """(photo, the name its drawing and masks are written under) for each file given (its name) and each photo in a
    folder given, sub-folders included (its path below that folder), leaving out the `outputs` folders (masks and
    drawings written inside the folder scored). With outputs, two photos that would be written under one name end the
    command before any work (the second's masks overwrote the first's)."""
    from inference.evaluation import IMAGE_SUFFIXES
    from inference.photo_io import photos_below

    out: list[tuple[Path, str]] = []
    for p in paths:
        if p.is_dir():
            out += [(f, f.relative_to(p).as_posix()) for f in photos_below(p, IMAGE_SUFFIXES, outputs)]
        else:
            out.append((p, p.name))
    seen: dict[str, Path] = {}
    for p, name in out if outputs else ():
        if name in seen and seen[name] != p:
            typer.secho(f"{seen[name]} and {p} would be written under one name ({name}): give their folder instead, "
                        "or score them in two runs", fg="red", err=True)
            raise typer.Exit(2)
        seen[name] = p
    if not out:
        typer.secho(f"no photos in {', '.join(map(str, paths))}", fg="red", err=True)
        raise typer.Exit(2)
    return out


def write_masks(masks: PhotoMasks, full_rgb: np.ndarray, folder: Path, name: str) -> None:
    """MASKS/<name>.<leaf|lesions|canopy>.png at the photo's upright size (the canopy drawn on `full_rgb`, the photo
    at full size), each written whole (a temporary file renamed), so an interrupted run leaves no half-written mask.
    `name` may hold sub-folders (a photo found in a folder given)."""
    sub = (folder / name).parent
    sub.mkdir(parents=True, exist_ok=True)
    base = Path(name).name
    for kind in ("leaf", "lesions", "canopy"):
        if getattr(masks, kind) is None:
            continue
        tmp = sub / f".{base}.{kind}.png.part"
        tmp.write_bytes(masks.png(kind, full_rgb=full_rgb))
        tmp.replace(sub / f"{base}.{kind}.png")
