"""Each lesion-patch backbone's declared feature size is what its network gives (mean and std of the tapped blocks),
and the serving graph takes the colour input only when the head was trained with it."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from models.lesion_patch import BACKBONES, PatchFeatures, PatchHead, ServingGraph, embed, feature_size  # noqa: E402


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_feature_size_is_the_networks(backbone: str) -> None:
    net = PatchFeatures(pretrained=False, backbone=backbone)
    assert embed(net, np.zeros((2, 3, 64, 64), np.float32)).shape == (2, feature_size(backbone))
    assert embed(net, np.zeros((0, 3, 64, 64), np.float32)).shape == (0, feature_size(backbone))


def test_serving_graph_weighs_the_colour_columns_as_the_head_does() -> None:
    rng = np.random.default_rng(0)
    net = PatchFeatures(pretrained=False)
    x = rng.normal(0, 1, (24, 3, 64, 64)).astype(np.float32)
    X = np.hstack([embed(net, x), rng.normal(0, 5, (24, 4)).astype(np.float32)])
    t = np.arange(24) % 4
    head = PatchHead(C=1.0, colour_weight=5.0).fit(X, t, background=3)
    probs, _ = ServingGraph(net, head)(torch.from_numpy(x), torch.from_numpy(X[:, -4:]))
    assert np.allclose(probs.detach().numpy(), head.proba(X, 4), atol=1e-4)
