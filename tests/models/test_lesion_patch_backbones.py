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


def test_training_and_serving_measure_the_same_candidate_colours() -> None:
    """The pipeline's candidate rows (ColourOf on the components) equal the served leaf_patches rows."""
    from inference.lesion_patches import box_patches, components, leaf_and_candidates, leaf_patches
    from models.lesion_patch_pipeline import ColourOf
    from tests.inference.test_lesion_patches import leaf_with_spots

    img = leaf_with_spots(3)
    img[195:205, 60:560] = (150, 100, 40)  # and a long streak, cut into several patches
    leaf, lesion = leaf_and_candidates(img)
    col = ColourOf(img, leaf, lesion)
    expected = []
    for c in components(lesion, 12, 0.0004):
        box = (c.x0, c.y0, c.x1, c.y1)
        expected += [col(box)] * len(box_patches(img, box, 32, 1.5))
    _, _, served = leaf_patches(img, 32, 1.5, 12, 0.0004, with_colour=True)
    assert len(expected) == len(served) > 1 and np.array_equal(np.array(expected), served)
