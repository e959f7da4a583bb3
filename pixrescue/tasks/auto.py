"""``pixrescue fix --auto``: inspect a picture, then run the steps it needs.

The order is measured (``benchmarks/auto.py``).  Whether to deblur is
decided on the deblocked picture (block edges pass for detail, so a blurred
JPEG can look sharp before); a blurred picture is then deblurred first and
fixed after, which measured better than the other order; the picture is
enlarged last, so that the upscaler magnifies neither blocks nor blur.

- ``fix``: when ``fix`` would tell the network a compression (the picture
  shows JPEG artifacts: ``Inspection.fix_quality`` or tables), with the
  default model and options;
- ``deblur``: when the first frame (deblocked, when it needs ``fix``) is
  called blurred by ``inspect.blur_check``: its sharpness is below
  ``BLURRED_BELOW``, or below ``CHECKED_BELOW`` and the deblurring network
  changes the picture as it came by more than it changes a sharp one;
- ``upscale xN``: when a minimum size is asked and the picture is smaller:
  the smallest N of 2, 3, 4 that reaches it (4 when none does).

A picture that needs none of them is left as it was (reported unchanged).
"""

from __future__ import annotations

from .. import zoo
from ..imaging import Picture
from ..imaging.tensors import split_alpha
from .deblur import deblur_frame
from .inspect import blur_check
from .restore import conditioning, restore_picture
from .upscale import upscale_picture


def upscale_factor(size: tuple[int, int], min_size: tuple[int, int] | None) -> int | None:
    """The smallest of 2, 3, 4 that makes ``size`` at least ``min_size`` (4 when none
    does); None when it already is, or no minimum is asked."""
    if min_size is None or (size[0] >= min_size[0] and size[1] >= min_size[1]):
        return None
    need = max(min_size[0] / size[0], min_size[1] / size[1])
    return next((n for n in (2, 3, 4) if n >= need - 1e-9), 4) if need > 1 else None


def deblurred_if_blurred(judged: Picture, source: Picture) -> Picture | None:
    """``source`` with every frame deblurred when ``judged`` (``source`` or its
    deblocked version) is called blurred, else None; a first frame the check
    deblurred whole is kept, not computed twice."""
    model = zoo.DEFAULT_MODEL["deblur"]
    _, blurred, first = blur_check(judged.frames[0], source.frames[0], model)
    if not blurred:
        return None
    frames = source.frames
    return source.with_frames([first if first is not None else deblur_frame(frames[0], model),
                               *(deblur_frame(frame, model) for frame in frames[1:])])


def auto_picture(picture: Picture, min_size: tuple[int, int] | None = None,
                 max_pixels: int | None = None) -> Picture:
    """``picture`` with the steps it needs, in order; ``steps`` on the result says
    which ran (``unchanged`` when none did)."""
    steps = []
    model = zoo.DEFAULT_MODEL["jpeg"]
    told = conditioning(model, split_alpha(picture.image)[0], picture.jpeg, None, picture.orientation)
    if told.tables is None:
        deblurred = deblurred_if_blurred(picture, picture)
        if deblurred is not None:
            picture = deblurred
            steps.append("deblur")
    else:
        fixed = restore_picture(picture, model)
        deblurred = deblurred_if_blurred(fixed, picture)
        if deblurred is not None:
            # Blur is judged on the deblocked picture; removed, it is removed first, from the
            # picture as it came: deblurring then fixing measured 0.1-0.2 dB better than the
            # other order on blurred pictures, JPEG or not (benchmarks/auto.py).
            picture = restore_picture(deblurred, model)
            steps += ["deblur", "fix"]
        else:
            picture = fixed
            steps.append("fix")
    factor = upscale_factor(picture.size, min_size)
    if factor is not None:
        picture = upscale_picture(picture, factor, deblock=False, **({} if max_pixels is None
                                                                     else {"max_pixels": max_pixels}))
        steps.append(f"upscale x{factor}")
    if not steps:
        picture = picture.with_frames(picture.frames)
        picture.unchanged = "nothing to do: no JPEG artifacts, not blurred" + (
            "" if min_size is None else f", at least {min_size[0]}x{min_size[1]}")
        return picture
    picture.unchanged = None
    picture.steps = ", ".join(steps)
    return picture

