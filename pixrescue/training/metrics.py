"""Image quality metrics on uint8 arrays (PSNR, SSIM, PSNR-B)."""

from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from ..imaging.colour import studio_luma as luma  # re-exported: BT.601 studio-range Y


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """PSNR in dB for 8-bit data, over the whole image and every channel."""
    reference = np.asarray(reference, dtype=np.float64)
    test = np.asarray(test, dtype=np.float64)
    if np.array_equal(reference, test):
        return float("inf")
    return float(peak_signal_noise_ratio(reference, test, data_range=255))


def ssim(reference: np.ndarray, test: np.ndarray) -> float:
    """SSIM with the Gaussian window of Wang et al. (sigma 1.5), channels averaged."""
    reference = np.asarray(reference, dtype=np.float64)
    test = np.asarray(test, dtype=np.float64)
    return float(
        structural_similarity(
            reference,
            test,
            data_range=255,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            channel_axis=-1 if reference.ndim == 3 else None,
        )
    )


def blocking_effect_factor(image: np.ndarray, block: int = 8) -> float:
    """BEF of Yim & Bovik (2011): how much stronger the differences across
    8x8 block boundaries are than the differences inside blocks."""
    image = np.asarray(image, dtype=np.float64)
    height, width = image.shape[:2]
    dh = image[:, 1:] - image[:, :-1]  # horizontal neighbour differences, at columns j|j+1
    dv = image[1:, :] - image[:-1, :]
    h_boundary = np.zeros(width - 1, dtype=bool)
    h_boundary[block - 1 :: block] = True
    v_boundary = np.zeros(height - 1, dtype=bool)
    v_boundary[block - 1 :: block] = True
    d_b = (dh[:, h_boundary] ** 2).sum() + (dv[v_boundary, :] ** 2).sum()
    d_bc = (dh[:, ~h_boundary] ** 2).sum() + (dv[~v_boundary, :] ** 2).sum()
    n_hb = height * h_boundary.sum()
    n_hbc = height * (~h_boundary).sum()
    n_vb = width * v_boundary.sum()
    n_vbc = width * (~v_boundary).sum()
    n_b, n_bc = n_hb + n_vb, n_hbc + n_vbc
    if n_b == 0 or n_bc == 0:
        return 0.0
    d_b, d_bc = d_b / n_b, d_bc / n_bc
    eta = np.log2(block) / np.log2(min(height, width)) if d_b > d_bc else 0.0
    return float(eta * (d_b - d_bc))


def psnr_b(reference: np.ndarray, test: np.ndarray) -> float:
    """PSNR-B (Yim & Bovik 2011): PSNR with the blocking effect factor of the
    test image added to the mean squared error.  Colour images are averaged
    over channels."""
    reference = np.asarray(reference, dtype=np.float64)
    test = np.asarray(test, dtype=np.float64)
    if reference.ndim == 3:
        return float(np.mean([psnr_b(reference[..., c], test[..., c]) for c in range(reference.shape[2])]))
    mse = np.mean((reference - test) ** 2)
    bef = blocking_effect_factor(test)
    total = mse + bef
    if total == 0:
        return float("inf")
    return float(10 * np.log10(255.0**2 / total))


def sr_scores(reference: np.ndarray, test: np.ndarray, border: int) -> tuple[float, float]:
    """(PSNR, SSIM) on the Y channel with ``border`` pixels cropped from each side."""
    y_ref, y_test = luma(reference), luma(test)
    if border:
        y_ref, y_test = y_ref[border:-border, border:-border], y_test[border:-border, border:-border]
    return psnr(y_ref, y_test), ssim(y_ref, y_test)
