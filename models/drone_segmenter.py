"""Drone damage segmenter: a small U-Net (canopy / soil_water / damaged) trained on chips of synthetic-damage scenes,
evaluated on held-out whole scenes against the index-anomaly method through the real raster pipeline, exported as an
ONNX bundle with tile size, halo and bands in model.json. Needs the `train` extra."""

from __future__ import annotations

import json
import platform
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict
from torch import nn

from datasets.drone import CLASSES, IGNORE, Scene, iter_chips, label_raster
from inference.bundle import BUNDLE_SCHEMA_VERSION, MODELS_DIR, sha256_file
from inference.metrics import damage_scores
from models.versioning import fresh_bundle_dir, promote_hint

MODEL_NAME = "drone_damage_unet_small"


class DroneSegmenterTrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    chip_px: int = 128
    stride_px: int = 64
    epochs: int = 25
    batch_size: int = 16
    lr: float = 3e-3
    width: int = 16
    stem: int = 1  # 2: a learnt 2x2 stride-2 stem; the U-Net runs at half the ground resolution (4x fewer FLOPs)
    # how the decoder goes up a level: "transposed_concat" (2x2 transposed convolution, skip concatenated: bundles up to
    # 1.4.x) or "nearest_add" (1x1 convolution at the coarse level, nearest 2x upsampling, skip added: no float
    # ConvTranspose in the int8 graph and half the decoder's input channels)
    decoder: Literal["transposed_concat", "nearest_add"] = "transposed_concat"
    # 3x3 convolutions in the top level's encoder and decoder blocks (the level with the most pixels: 4 of 1.5.2's 19
    # convolutions took half its time); the other levels keep 2
    top_convs: int = 2
    damaged_weight: float = 4.0
    seed: int = 0
    threads: int = 2
    max_chips: int | None = None
    # the ground resolution the bundle analyses at (model.json "analysis_gsd_m"): finer orthomosaics are area-averaged
    # to it by an integer factor before the network; None: every input at its own resolution
    analysis_gsd_m: float | None = None


def _block(cin: int, cout: int, convs: int = 2) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(convs):
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                   nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class _NearestUp(nn.Module):
    """1x1 convolution at the coarse level, then nearest 2x upsampling: in int8, a QLinearConv and a Resize on uint8
    (onnxruntime has no int8 ConvTranspose: a transposed convolution runs in float between a dequantize and a
    quantize, 16 % of 1.4.2's time)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.conv(x), scale_factor=2, mode="nearest")


class SmallUNet(nn.Module):
    """4-level U-Net, widths w, 2w, 4w, 8w; input (N, bands, H, W) with H, W multiples of 8 x stem; output logits at
    the input's size.

    stem > 1: a learnt stem x stem stride-stem convolution (space-to-depth) first, the U-Net at 1/stem of the
    resolution, logits upsampled bilinearly at the end: stem**2 fewer FLOPs per input pixel, for damage patches that
    are many pixels across.

    decoder "nearest_add": each level up is a 1x1 convolution, nearest upsampling and the skip added (LinkNet's way),
    so the decoder's blocks take w, 2w, 4w channels instead of 2w, 4w, 8w."""

    def __init__(self, bands: int = 3, classes: int = 3, w: int = 16, stem: int = 1,
                 decoder: str = "transposed_concat", top_convs: int = 2) -> None:
        super().__init__()
        if decoder not in ("transposed_concat", "nearest_add"):
            raise ValueError(f"unknown decoder {decoder!r}: transposed_concat or nearest_add")
        self.stem_factor = stem
        self.add_skip = decoder == "nearest_add"
        self.logits_at_stem = False  # True: forward stops before the upsampling (the exported graph; the server upsamples)
        self.stem = (nn.Sequential(nn.Conv2d(bands, w, stem, stem, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True))
                     if stem > 1 else nn.Identity())
        cin = w if stem > 1 else bands
        self.e1, self.e2 = _block(cin, w, top_convs), _block(w, 2 * w)
        self.e3, self.e4 = _block(2 * w, 4 * w), _block(4 * w, 8 * w)
        up: Callable[[int, int], nn.Module] = _NearestUp if self.add_skip else (lambda a, b: nn.ConvTranspose2d(a, b, 2, 2))
        k = 1 if self.add_skip else 2  # the decoder block's input: the skip added, or concatenated
        self.u3, self.d3 = up(8 * w, 4 * w), _block(k * 4 * w, 4 * w)
        self.u2, self.d2 = up(4 * w, 2 * w), _block(k * 2 * w, 2 * w)
        self.u1, self.d1 = up(2 * w, w), _block(k * w, w, top_convs)
        self.head = nn.Conv2d(w, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.e1(self.stem(x))
        e2 = self.e2(F.max_pool2d(e1, 2))
        e3 = self.e3(F.max_pool2d(e2, 2))
        e4 = self.e4(F.max_pool2d(e3, 2))
        d3 = self.d3(self._join(self.u3(e4), e3))
        d2 = self.d2(self._join(self.u2(d3), e2))
        d1 = self.d1(self._join(self.u1(d2), e1))
        z = self.head(d1)
        if self.stem_factor > 1 and not self.logits_at_stem:
            z = F.interpolate(z, scale_factor=self.stem_factor, mode="bilinear", align_corners=False)
        return z

    def _join(self, up: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return up + skip if self.add_skip else torch.cat([up, skip], 1)

    @contextmanager
    def as_exported(self) -> Iterator[SmallUNet]:
        """The network as its ONNX graph is: with a stem, forward stops before the upsampling, which the server does
        (bundle model.json "logits_stride")."""
        self.logits_at_stem = self.stem_factor > 1
        try:
            yield self
        finally:
            self.logits_at_stem = False


def logits_meta(stride: int) -> dict[str, Any]:
    """model.json's description of the logits an exported graph writes: at the input's size, or at 1/stride of it
    with "logits_stride" (the server upsamples them bilinearly, half-pixel centres)."""
    if stride == 1:
        return {"outputs": {"logits": "float32 (N, 3, H, W)"}}
    return {"outputs": {"logits": f"float32 (N, 3, H / {stride}, W / {stride}); the server upsamples them bilinearly"},
            "logits_stride": stride}


def collect_chips(scenes: list[Scene], cfg: DroneSegmenterTrainConfig) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for s in scenes:
        for x, y in iter_chips(s, cfg.chip_px, cfg.stride_px):
            xs.append(x)
            ys.append(y)
    x, y = np.stack(xs), np.stack(ys)
    if cfg.max_chips and len(x) > cfg.max_chips:
        keep = np.random.default_rng(cfg.seed).choice(len(x), cfg.max_chips, replace=False)
        x, y = x[keep], y[keep]
    return x, y


def _augment(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    k = random.randint(0, 3)
    x, y = torch.rot90(x, k, (2, 3)), torch.rot90(y, k, (1, 2))
    if random.random() < 0.5:
        x, y = x.flip(3), y.flip(2)
    gain = 1 + 0.15 * (torch.rand(x.shape[0], 1, 1, 1) - 0.5) * 2  # exposure
    return (x * gain).clamp(0, 1), y


def train(
    scenes: list[Scene], cfg: DroneSegmenterTrainConfig, progress: Callable | None = None,
    on_epoch: Callable[[list[dict[str, float]]], None] | None = None,
) -> tuple[SmallUNet, list[dict[str, float]], float]:
    """Train on the chips of the `train` scenes; returns (model, history, seconds)."""
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()
    x, y = collect_chips([s for s in scenes if s.split == "train"], cfg)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    model = SmallUNet(3, len(CLASSES), cfg.width, cfg.stem, cfg.decoder, cfg.top_convs)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    steps = cfg.epochs * max(1, len(x) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=max(steps, 1))
    weight = torch.tensor([1.0, 1.0, cfg.damaged_weight])
    history: list[dict[str, float]] = []
    epochs = range(cfg.epochs)
    for epoch in progress(epochs, desc="epochs") if progress else epochs:
        model.train()
        perm = torch.randperm(len(xt))
        total, n = 0.0, 0
        for i in range(0, len(perm) - cfg.batch_size + 1, cfg.batch_size):
            b = perm[i : i + cfg.batch_size]
            xb, yb = _augment(xt[b], yt[b])
            loss = F.cross_entropy(model((xb - 0.5) / 0.25), yb, weight=weight, ignore_index=IGNORE)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(b)
            n += len(b)
        history.append({"epoch": epoch + 1, "train_loss": total / max(n, 1), "chips": len(x)})
        if on_epoch:
            on_epoch(history)
    return model.eval(), history, time.perf_counter() - t0


def flops_per_pixel(model: SmallUNet) -> int:
    """Multiply-adds x 2 of the convolutions per input pixel (counted on a 128 px tile)."""
    total = 0

    def hook(mod: nn.Module, inp: Any, out: torch.Tensor) -> None:
        nonlocal total
        k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
        px = inp[0].shape[2] * inp[0].shape[3] if isinstance(mod, nn.ConvTranspose2d) else out.shape[2] * out.shape[3]
        total += 2 * k * out.shape[1] * px

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, 128, 128))
    for h in hs:
        h.remove()
    return int(total / 128**2)


def export_bundle(model: SmallUNet, out_dir: Path, version: str, meta_extra: dict[str, Any]) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / "model.onnx"
    with model.as_exported():  # with a stem, the graph ends before the bilinear upsampling: the server does it
        torch.onnx.export(
            model, (torch.zeros(1, 3, 128, 128),), str(onnx_path), input_names=["image"], output_names=["logits"],
            dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                          "logits": {0: "batch", 2: "logits_height", 3: "logits_width"}},
            opset_version=17, dynamo=False,
        )
    import onnxruntime

    meta: dict[str, Any] = {
        "schema_version": BUNDLE_SCHEMA_VERSION, "model_name": MODEL_NAME, "model_version": version,
        "task": "segmentation", "classes": CLASSES, "input_bands": ["red", "green", "blue"], "sensors": ["rgb", "rgba"],
        "normalization": {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "input_scale": "reflectance 0-1"},
        # a 32 px halo whatever the stem: 1.4.2 measured 32 against 64 at stride 2 (held-out F1 within 0.0002)
        "tile_size_px": 256, "halo_px": 32, "size_multiple": 8 * model.stem_factor,
        "flops_per_pixel": flops_per_pixel(model),
        **logits_meta(model.stem_factor),
        "warning": ("Trained on synthetic damage painted on real orthomosaics, never on real hopperburn or blast seen "
                    "from a drone: straw stubble can read as damage. Check the zones on the ground before spraying."),
        "warning_vi": ("Được huấn luyện trên hư hại giả vẽ lên ảnh trực giao thật, chưa từng trên cháy rầy hay đạo ôn "
                       "thật nhìn từ drone: rơm rạ có thể bị đọc là hư hại. Kiểm tra các vùng ngoài đồng trước khi "
                       "phun."),
        "libraries": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
                      "python": platform.python_version()},
        **meta_extra,
    }
    from models.field_photo import write_onnx_metadata

    write_onnx_metadata(onnx_path, meta)
    meta["onnx_sha256"] = sha256_file(onnx_path)
    (out_dir / "model.json").write_text(json.dumps(meta, indent=2))
    return meta


def evaluate_scenes(scenes: list[Scene], bundle_dir: Path | None, work: Path) -> dict[str, dict[str, Any]]:
    """Run the real raster pipeline on each test scene with the model (if given) and with the index-anomaly method;
    score the damaged class (damage probability >= 50) against the exact synthetic masks."""
    import rasterio

    from inference.drone import DamageModel, analyze_orthomosaic

    out: dict[str, dict[str, Any]] = {}
    model = DamageModel(bundle_dir) if bundle_dir else None
    for s in scenes:
        if s.split != "test":
            continue
        truth = label_raster(s.tif, s.labels)
        valid = truth != IGNORE
        res: dict[str, Any] = {}
        for method, m in (("model", model), ("index_anomaly", None)):
            if method == "model" and m is None:
                continue
            d = work / s.name / method
            analyze_orthomosaic(s.tif, d, damage_model=m)
            with rasterio.open(d / "damage.tif") as ds:
                dmg = ds.read(1)
            res[method] = damage_scores((dmg >= 50) & (dmg != 255), truth == CLASSES.index("damaged"), valid)
        out[s.name] = res
    return out


def run(
    version: str, scenes: list[Scene], cfg: DroneSegmenterTrainConfig, out_dir: Path | None = None,
    progress: Callable | None = None, on_epoch: Callable | None = None,
) -> dict[str, Any]:
    out_dir = fresh_bundle_dir("drone_damage", version, out_dir)
    model, history, seconds = train(scenes, cfg, progress, on_epoch)
    meta = export_bundle(model, out_dir, version, {
        "training": {"config": cfg.model_dump(), "seconds": round(seconds, 1), "history": history,
                     "scenes": [{"name": s.name, "split": s.split} for s in scenes],
                     "data": "synthetic damage on real BSD-3 orthomosaics (datasets/drone.py); see MODEL_CARD.md"},
        **({"analysis_gsd_m": cfg.analysis_gsd_m} if cfg.analysis_gsd_m else {}),
    })
    # parity on a real chip
    import onnxruntime as ort

    x = next(iter_chips(next(s for s in scenes if s.split == "test"), 128, 128))[0][None]
    with torch.no_grad(), model.as_exported():
        ref = model((torch.from_numpy(x) - 0.5) / 0.25).numpy()
    got = ort.InferenceSession(str(out_dir / "model.onnx")).run(None, {"image": ((x - 0.5) / 0.25).astype(np.float32)})[0]
    meta["parity_max_abs_diff_logits"] = float(np.abs(ref - got).max())
    meta["metrics"] = {"held_out_scenes": evaluate_scenes(scenes, out_dir, out_dir / ".eval")}
    import shutil

    shutil.rmtree(out_dir / ".eval", ignore_errors=True)
    (out_dir / "model.json").write_text(json.dumps(meta, indent=2))
    write_card(meta, out_dir)
    print(promote_hint("drone_damage", version))
    return meta


def write_card(meta: dict[str, Any], out_dir: Path) -> None:
    rows = []
    for scene, res in meta["metrics"]["held_out_scenes"].items():
        for method, m in res.items():
            rows.append(f"| {scene} | {method} | {m['precision']} | {m['recall']} | {m['f1']} | {m['iou']} |")
    t = meta["training"]
    stem = int(t["config"].get("stem", 1))
    net_stem = (f" behind a learnt {stem}x{stem} stride-{stem} stem (the U-Net at 1/{stem} of the resolution, the "
                "logits upsampled bilinearly)") if stem > 1 else ""
    if t["config"].get("decoder", "transposed_concat") == "nearest_add":
        net_stem += (", its decoder going up each level by a 1x1 convolution, nearest 2x upsampling and the skip "
                     "added")
    if int(t["config"].get("top_convs", 2)) != 2:
        net_stem += f", {t['config']['top_convs']} 3x3 convolution(s) per block at the top level (2 below)"
    gsd = (f"{meta['analysis_gsd_m']} m (finer orthomosaics area-averaged by an integer factor first)"
           if meta.get("analysis_gsd_m") else "the input's own resolution")
    text = f"""# {meta['model_name']} {meta['model_version']}

Segments drone RGB orthomosaics into canopy / soil_water / damaged canopy, tile {meta['tile_size_px']} px with a
{meta['halo_px']} px halo. Input: red, green, blue scaled to 0-1.

## Training data: synthetic, said plainly
No openly licensed drone imagery with damage labels is available. The training set is **synthetic damage painted on
real orthomosaics** (datasets/drone.py): hopperburn-like round straw-brown patches, yellowing patches and thinning
(soil showing through), 1-6 m across, with exact masks; canopy vs soil/water labels come from the green leaf index
rule (GLI > 0.05). Source rasters: BSD-3-Clause test data (rio-tiler Bali paddies; AgPipeline sorghum, Maricopa).
Real hopperburn, blast or BLB seen from a drone may look different: validate on real labelled flights before
trusting the map for spraying.

Training scenes: {', '.join(s['name'] for s in t['scenes'] if s['split'] == 'train')}.
**Held out** (separate scenes or a separate block of fields, never seen in training):
{', '.join(s['name'] for s in t['scenes'] if s['split'] == 'test')}.

## Damaged class on held-out scenes (damage probability >= 50 %), model vs index anomaly, real raster pipeline
| scene | method | precision | recall | F1 | IoU |
|---|---|---|---|---|---|
{chr(10).join(rows)}

Network: U-Net of width {t['config']['width']}{net_stem}, {meta.get('flops_per_pixel', 0) / 1e3:.1f} kFLOP per
input pixel; analysed at {gsd}.

Training: {t['seconds']} s on 2 CPU threads, {t['history'][-1]['chips']} chips, config `{json.dumps(t['config'])}`.
torch/onnxruntime parity (max abs difference of logits on a real chip): {meta['parity_max_abs_diff_logits']:.2e}.
"""
    (out_dir / "MODEL_CARD.md").write_text(text)


def _seal_and_score(out_dir: Path, meta: dict[str, Any], scenes: list[Scene]) -> None:
    """A derived bundle's model.onnx gets its metadata and model.json its hash; then the held-out scenes are scored
    through the real pipeline with it, into meta["metrics"] and model.json."""
    import shutil

    from models.field_photo import write_onnx_metadata

    write_onnx_metadata(out_dir / "model.onnx", meta)
    meta["onnx_sha256"] = sha256_file(out_dir / "model.onnx")
    (out_dir / "model.json").write_text(json.dumps(meta, indent=2))
    meta["metrics"] = {"held_out_scenes": evaluate_scenes(scenes, out_dir, out_dir / ".eval")}
    shutil.rmtree(out_dir / ".eval", ignore_errors=True)
    (out_dir / "model.json").write_text(json.dumps(meta, indent=2))


def _derived_bundle(src: Any, version: str, out_dir: Path | None, why: str, scenes: list[Scene],
                    changes: dict[str, Any], graph: Any = None) -> tuple[dict[str, Any], Path]:
    """A derived bundle's folder (never overwritten): `graph` (an onnx ModelProto, checked) or the source's network
    copied, model.json the source's with `changes`, scored again on the held-out scenes (_seal_and_score), and the
    source's card under the new title; the caller appends what changed. Returns (meta, folder)."""
    import shutil

    import onnx

    out_dir = fresh_bundle_dir("drone_damage", version, out_dir)
    if graph is None:
        shutil.copyfile(src.onnx_path, out_dir / "model.onnx")
    else:
        onnx.checker.check_model(graph)
        onnx.save(graph, str(out_dir / "model.onnx"))
    meta = {k: v for k, v in src.meta.items() if k not in ("onnx_sha256", "metrics")}
    meta.update(changes, model_version=version, derived_from={"version": src.version, "why": why})
    _seal_and_score(out_dir, meta, scenes)
    story = (src.path / "MODEL_CARD.md").read_text().split("\n", 1)  # the source's story (training, int8) kept
    (out_dir / "MODEL_CARD.md").write_text(f"# {MODEL_NAME} {version}\n{story[1] if len(story) > 1 else ''}")
    return meta, out_dir


def _held_out_f1(meta: dict[str, Any]) -> str:
    return json.dumps({s: r["model"]["f1"] for s, r in meta["metrics"]["held_out_scenes"].items()})


def derive_version(src_dir: Path, version: str, changes: dict[str, Any], scenes: list[Scene], why: str,
                   out_dir: Path | None = None) -> dict[str, Any]:
    """A new bundle version with the same network and changed serving metadata (e.g. the analysis resolution):
    the ONNX file is copied with its metadata rewritten, the held-out scenes are scored again through the real
    pipeline with the new metadata, and the card says what changed and why. The source bundle is left untouched."""
    from inference.bundle import load_bundle

    meta, out_dir = _derived_bundle(load_bundle(src_dir), version, out_dir, why, scenes, changes)
    with (out_dir / "MODEL_CARD.md").open("a") as fh:
        fh.write(f"\n## Derived from {meta['derived_from']['version']}\nSame network and weights. Changed: "
                 f"`{json.dumps(changes)}`. {why}\n\nHeld-out scenes scored again through the real pipeline: "
                 f"{_held_out_f1(meta)}.\n")
    print(promote_hint("drone_damage", version))
    return meta


def strip_output_resize(src_dir: Path, version: str, scenes: list[Scene], why: str,
                        out_dir: Path | None = None) -> dict[str, Any]:
    """A new bundle version whose graph ends before the final Resize of a half-resolution network (stem > 1): the
    logits come out at 1/stem of the input's size and the server upsamples them (model.json "logits_stride"; the
    same bilinear, half-pixel-centre interpolation). The held-out scenes are scored again; the source is untouched."""
    import onnx

    from inference.bundle import load_bundle

    src = load_bundle(src_dir)
    stride = int(src.meta["training"]["config"].get("stem", 1))
    model = onnx.load(str(src.onnx_path))
    g = model.graph
    resize = next((n for n in g.node if n.op_type == "Resize" and "logits" in n.output), None)
    modes = {a.name: a.s for a in resize.attribute} if resize is not None else {}
    if resize is None or stride < 2 or modes.get("mode") != b"linear" or modes.get(
            "coordinate_transformation_mode") not in (b"half_pixel", b"pytorch_half_pixel"):
        raise ValueError(f"{src_dir}: no bilinear half-pixel Resize of a stride-{stride} network to take out")
    before = resize.input[0]
    g.node.remove(resize)
    used = {i for n in g.node for i in n.input}
    for init in [i for i in g.initializer if i.name not in used]:  # the Resize's scales
        g.initializer.remove(init)
    for n in g.node:  # the tensor that fed the Resize is the output now, under the contract's name
        n.output[:] = ["logits" if o == before else o for o in n.output]
    dims = g.output[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = f"height_over_{stride}", f"width_over_{stride}"
    meta, out_dir = _derived_bundle(src, version, out_dir, why, scenes, logits_meta(stride), model)
    with (out_dir / "MODEL_CARD.md").open("a") as fh:
        fh.write(f"\n## Derived from {src.version}: the final Resize taken out of the graph\n{why}\n\nSame weights; "
                 f"the logits leave the network at 1/{stride} of the input's size and the server upsamples them "
                 f"(bilinear, half-pixel centres, as the Resize did). Held-out scenes scored again: {_held_out_f1(meta)}.\n")
    return meta


def stem_on_space_to_depth(src_dir: Path, version: str, scenes: list[Scene], why: str,
                           out_dir: Path | None = None) -> dict[str, Any]:
    """A new bundle version whose stem (a k x k stride-k convolution of the image) is a 1x1 convolution of the image
    in space-to-depth layout (bands x k x k channels at 1/k of the size), which the server makes (model.json
    "input_space_to_depth": k). The same weights, reordered; the same sums: an int8 network's logits are the source's
    to the bit (integer sums), a float network's to float rounding (7.6e-6 on 1.5.0, the order of the sum changes).
    onnxruntime runs a 3-channel stride-2 int8 stem at a fraction of its speed (3.35 ms of a 576 px window of 1.5.1,
    the most costly node for 1 % of the FLOPs; as a 1x1 convolution of 12 channels 0.59 ms). The source is untouched."""
    import onnx
    from onnx import numpy_helper

    from inference.bundle import load_bundle

    src = load_bundle(src_dir)
    k = int(src.meta["training"]["config"].get("stem", 1))
    model = onnx.load(str(src.onnx_path))
    g = model.graph
    conv = _stem_conv(g)
    attrs = {a.name: list(a.ints) for a in conv.attribute}
    if int(src.meta.get("input_space_to_depth", 1)) != 1:
        raise ValueError(f"{src_dir}: its network already takes a space-to-depth input")
    if k < 2 or attrs.get("kernel_shape") != [k, k] or attrs.get("strides") != [k, k] or any(attrs.get("pads", [0])):
        raise ValueError(f"{src_dir}: no {k}x{k} stride-{k} stem convolution of the image to rewrite")
    made_by = {o: n for n in g.node for o in n.output}
    w_name = conv.input[1]
    if w_name in made_by:  # int8: the weights come through a DequantizeLinear (per output channel: axis 0 holds)
        w_name = made_by[w_name].input[0]
    inits = {i.name: i for i in g.initializer}
    w = numpy_helper.to_array(inits[w_name])  # (out, bands, k, k) -> (out, bands x k x k, 1, 1): channel b k k + r k + c
    inits[w_name].CopyFrom(numpy_helper.from_array(w.reshape(w.shape[0], -1, 1, 1), w_name))
    for a in conv.attribute:
        if a.name in ("kernel_shape", "strides"):
            a.ints[:] = [1, 1]
    dims = g.input[0].type.tensor_type.shape.dim
    dims[1].dim_value *= k * k
    dims[2].dim_param, dims[3].dim_param = f"height_over_{k}", f"width_over_{k}"
    meta, out_dir = _derived_bundle(src, version, out_dir, why, scenes, {"input_space_to_depth": k}, model)
    with (out_dir / "MODEL_CARD.md").open("a") as fh:
        fh.write(f"\n## Derived from {src.version}: the stem on a space-to-depth input\n{why}\n\nSame weights, "
                 f"reordered: the {k}x{k} stride-{k} stem is a 1x1 convolution of the image's {k}x{k} blocks, which "
                 f"the server lays out as channels (model.json input_space_to_depth {k}). Held-out scenes scored "
                 f"again: {_held_out_f1(meta)}.\n")
    print(promote_hint("drone_damage", version))
    return meta


def _stem_conv(g: Any) -> Any:
    """The convolution that reads the image: directly, or through a QuantizeLinear and a DequantizeLinear (int8)."""
    users: dict[str, list[Any]] = {}
    for n in g.node:
        for i in n.input:
            users.setdefault(i, []).append(n)
    name = g.input[0].name
    while True:
        after = users.get(name, [])
        if len(after) != 1:
            raise ValueError("the image feeds more than one node: no single stem convolution")
        if after[0].op_type == "Conv":
            return after[0]
        if after[0].op_type not in ("QuantizeLinear", "DequantizeLinear"):
            raise ValueError(f"the image reaches a {after[0].op_type} before any convolution")
        name = after[0].output[0]


# Operators quantized to int8: every operator of the U-Net. Conv alone left float DequantizeLinear/QuantizeLinear
# pairs around each ReLU, pool and concat (no faster); the whole graph in int8 runs 1.8x faster per tile.
QUANTIZED_OPS = ("Conv", "Relu", "MaxPool", "ConvTranspose", "Concat", "Add", "Resize")


def quantize_version(src_dir: Path, version: str, scenes: list[Scene], why: str, out_dir: Path | None = None,
                     calibration_chips: int = 64, seed: int = 0) -> dict[str, Any]:
    """A new bundle version whose network is the source's, quantized to int8 after training (onnxruntime static
    quantization, QDQ: int8 weights per output channel, uint8 activations per tensor, MinMax ranges) and calibrated on
    chips of the *training* scenes only. The held-out scenes are scored again through the real pipeline; the card
    says what changed. The source bundle is left untouched."""
    import onnxruntime as ort

    from inference.bundle import load_bundle
    from models.quantize import quantize_onnx

    src = load_bundle(src_dir)
    if int(src.meta.get("input_space_to_depth", 1)) != 1:
        raise ValueError(f"{src_dir}: its network takes a space-to-depth input; quantize its source, then lay it out")
    out_dir = fresh_bundle_dir("drone_damage", version, out_dir)
    mean = np.asarray(src.meta["normalization"]["mean"], np.float32)[:, None, None]
    std = np.asarray(src.meta["normalization"]["std"], np.float32)[:, None, None]
    train_scenes = [s for s in scenes if s.split == "train"]
    chips = [x for s in train_scenes for x, _ in iter_chips(s, 128, 64)]
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(chips), min(calibration_chips, len(chips)), replace=False)
    feeds = [{"image": ((chips[i] - mean) / std)[None].astype(np.float32)} for i in sorted(pick)]
    quantization = quantize_onnx(src.onnx_path, out_dir / "model.onnx", feeds, QUANTIZED_OPS)
    meta = {k: v for k, v in src.meta.items() if k not in ("onnx_sha256", "metrics", "parity_max_abs_diff_logits")}
    meta.update(model_version=version, derived_from={"version": src.version, "why": why}, quantization={
        **quantization, "calibration": {"scenes": [s.name for s in train_scenes], "chips": len(feeds), "chip_px": 128,
                                        "seed": seed}})
    meta["libraries"] = {**meta.get("libraries", {}), "onnxruntime": ort.__version__}
    # parity with the float network on held-out chips: the damage probability, which is what the maps show
    test_chips = [x for s in scenes if s.split == "test" for x, _ in iter_chips(s, 128, 128)][:16]
    sessions = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
                for p in (src.onnx_path, out_dir / "model.onnx")]
    damaged = CLASSES.index("damaged")
    diffs = []
    for x in test_chips:
        a, b = (torch.softmax(torch.from_numpy(s.run(None, {"image": ((x - mean) / std)[None]})[0]), 1)[0, damaged]
                for s in sessions)
        diffs.append(float((a - b).abs().max()))
    meta["parity_max_abs_diff_damage_probability"] = max(diffs) if diffs else None
    _seal_and_score(out_dir, meta, scenes)
    meta_for_card = {**meta, "parity_max_abs_diff_logits": src.meta.get("parity_max_abs_diff_logits", float("nan"))}
    write_card(meta_for_card, out_dir)
    card = (out_dir / "MODEL_CARD.md").read_text()
    head = f"\n### Training of {src.version}'s network (this bundle's, before int8)\nTraining: "
    card = card.replace("\nTraining: ", head)
    q = meta["quantization"]
    card += (f"\n## Derived from {src.version}: the same network in int8\n{why}\n\n"
             f"{q['method']}; weights {q['weights']}; activations {q['activations']}; operators "
             f"{', '.join(q['operators'])}, except {', '.join(q['kept_float']) or 'none'} (kept float: the logits); "
             f"calibrated on {q['calibration']['chips']} chips of {q['calibration']['chip_px']} px from the training "
             f"scenes only ({', '.join(q['calibration']['scenes'])}). Largest difference of the damage probability "
             f"from {src.version} on 16 held-out chips: {meta['parity_max_abs_diff_damage_probability']:.4f}. Built "
             f"and measured on a CPU with {', '.join(q['built_on_cpu_with'])}: uint8 activations with int8 weights "
             "are exact where the CPU has VNNI; on a plain AVX2 machine compare again before serving it there.\n")
    (out_dir / "MODEL_CARD.md").write_text(card)
    print(promote_hint("drone_damage", version))
    return meta


def main() -> None:
    import argparse
    import tempfile

    from datasets.drone import default_sources, make_scenes
    from datasets.field_photos import DEFAULT_DATA_ROOT

    ap = argparse.ArgumentParser(description="Derive a drone_damage bundle from another: the same network in int8, "
                                             "without its final Resize, with its stem on a space-to-depth input, or "
                                             "with changed serving metadata.")
    sub = ap.add_subparsers(dest="cmd", required=True)

    def derivation(name: str, about: str, why: str | None) -> argparse.ArgumentParser:
        """A subcommand with the arguments every derivation takes; `why` None: --why is required."""
        p = sub.add_parser(name, help=about)
        p.add_argument("--from", dest="src", required=True, help="source version (models/drone_damage/VERSION)")
        p.add_argument("--version", required=True)
        p.add_argument("--why", required=why is None, default=why,
                       help="why, with the figures that chose it (goes to the card)")
        p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
        return p

    derivation("quantize", "post-training int8 quantization of a bundle into a new version",
               "int8 for speed on CPUs with VNNI/AMX; held-out F1 must stay within 0.02")
    derivation("strip-resize", "take a half-resolution network's final Resize out of the graph (the server upsamples "
               "the logits, faster) into a new version",
               "the logits upsampled by OpenCV in the server: onnxruntime's Resize took 14 % of the network's time")
    derivation("space-to-depth", "the stride-k stem as a 1x1 convolution of a space-to-depth input (the server lays "
               "it out; int8: the same logits to the bit) into a new version",
               "onnxruntime's int8 kernels run a 3-channel stride-2 stem slowly: the same sums as a 1x1 convolution "
               "of 12 channels")
    derivation("derive", "the same network with changed serving metadata (model.json), e.g. --set halo_px=32, into a "
               "new version scored again on the held-out scenes", None).add_argument(
        "--set", dest="changes", action="append", required=True, metavar="KEY=JSON",
        help="a model.json key and its new value as JSON (halo_px=32, analysis_gsd_m=0.1); repeatable")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scenes = make_scenes(default_sources(a.data_root), Path(tmp))
        src = MODELS_DIR / "drone_damage" / a.src
        if a.cmd == "derive":
            changes = {k: json.loads(v) for k, _, v in (c.partition("=") for c in a.changes)}
            meta = derive_version(src, a.version, changes, scenes, a.why)
        else:
            derive = {"quantize": quantize_version, "strip-resize": strip_output_resize,
                      "space-to-depth": stem_on_space_to_depth}[a.cmd]
            meta = derive(src, a.version, scenes, a.why)
    print(json.dumps(meta["metrics"], indent=2))


if __name__ == "__main__":
    main()
