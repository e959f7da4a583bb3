"""The synthetic degradations the quality score learns from: blur kernels and the mixed recipes."""

import numpy as np
import pytest
from PIL import Image

from pixrescue.training.blur import MAX_KERNEL, blur, disc_kernel, gaussian_kernel, motion_kernel, random_kernel
from pixrescue.training.degrade import MIXED_RECIPES, mixed_degradation


@pytest.mark.parametrize("kernel", [motion_kernel(9, np.random.default_rng(3)), disc_kernel(3.5), gaussian_kernel(1.2)])
def test_a_kernel_keeps_brightness_and_is_centred(kernel):
    assert kernel.shape[0] == kernel.shape[1] and kernel.shape[0] % 2 == 1
    assert kernel.sum() == pytest.approx(1) and kernel.min() >= 0
    axis = np.arange(kernel.shape[0]) - kernel.shape[0] // 2
    assert abs((kernel.sum(0) * axis).sum()) < 0.75 and abs((kernel.sum(1) * axis).sum()) < 0.75


def test_a_motion_path_is_about_as_long_as_asked():
    kernel = motion_kernel(13, np.random.default_rng(0))
    ys, xs = np.nonzero(kernel > 1e-3)
    assert 9 <= max(xs.max() - xs.min(), ys.max() - ys.min()) <= 15


def test_a_disc_is_round_and_of_its_radius():
    kernel = disc_kernel(4)
    assert kernel.shape == (9, 9)
    assert kernel[4, 0] > 0 and kernel[0, 0] == 0 and kernel[4, 4] == kernel.max()


def test_blurring_keeps_the_size_and_a_flat_picture_and_softens_an_edge():
    flat = np.full((40, 30, 3), 77.0)
    assert np.allclose(blur(flat, disc_kernel(3)), 77.0)
    edge = np.zeros((40, 40))
    edge[:, 20:] = 255
    out = blur(edge, gaussian_kernel(2))
    assert out.shape == edge.shape and 0 < out[10, 19] < 128 < out[10, 20] < 255


def test_random_kernels_stay_within_the_largest_size():
    rng = np.random.default_rng(5)
    for _ in range(30):
        kind, kernel = random_kernel(rng)
        assert kind in ("motion", "defocus", "gaussian") and kernel.shape[0] <= MAX_KERNEL + 4


@pytest.mark.parametrize("recipe", list(MIXED_RECIPES))
def test_every_recipe_gives_aligned_crops_and_only_clean_leaves_them_equal(photo, recipe):
    rng = np.random.default_rng(11)
    degraded, clean, name = mixed_degradation(photo, 64, rng, recipe)
    assert name == recipe and degraded.shape == clean.shape == (64, 64, 3)
    assert degraded.dtype == clean.dtype == np.uint8
    assert np.array_equal(degraded, clean) == (recipe == "clean")
    inner = degraded[8:-8, 8:-8].astype(int)  # the same place: nearer its clean crop than to that crop moved
    here = np.abs(inner - clean[8:-8, 8:-8]).mean()
    for dy, dx in ((4, 0), (0, 4), (-4, -4)):
        assert here < np.abs(inner - clean[8 + dy:56 + dy, 8 + dx:56 + dx]).mean(), (dy, dx)


def test_recipes_are_drawn_in_their_shares(photo):
    rng = np.random.default_rng(2)
    small = photo.resize((160, 120), Image.BICUBIC)
    names = [mixed_degradation(small, 48, rng)[2] for _ in range(300)]
    for recipe, share in MIXED_RECIPES.items():
        assert abs(names.count(recipe) / 300 - share) < 0.08, recipe
