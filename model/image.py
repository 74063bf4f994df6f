"""Small image helpers shared by backends and scenarios."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def as_rgb(rgb: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Check an H x W x 3 (or 4, or gray) uint8 frame and return it as H x W x 3."""
    if rgb.ndim == 2:
        return np.repeat(rgb[:, :, None], 3, axis=2)
    if rgb.ndim != 3 or rgb.shape[2] not in (3, 4):
        raise ValueError(f"expected an H x W x 3 RGB frame, got shape {rgb.shape}")
    if rgb.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {rgb.dtype}")
    return rgb[:, :, :3]


def decode_image(data: bytes) -> NDArray[np.uint8] | None:
    """An encoded picture (JPEG, PNG, ...) as H x W x 3 RGB; None if it is not one."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError):
        return None
