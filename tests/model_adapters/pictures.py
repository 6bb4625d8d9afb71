"""Small test images, built with Pillow, as the arena hands them to adapters (model_adapters.conversation.Image)."""

from __future__ import annotations

import io
from collections.abc import Sequence

from model_adapters.conversation import Image

RGB = tuple[int, int, int]


def picture(width: int, height: int, stripes: Sequence[tuple[int, RGB]], *, media_type: str = "image/png") -> Image:
    """An image of vertical stripes, left to right: ``(columns, colour)`` each (the columns add up to ``width``)."""
    import PIL.Image

    assert sum(columns for columns, _ in stripes) == width
    canvas = PIL.Image.new("RGB", (width, height))
    left = 0
    for columns, colour in stripes:
        canvas.paste(colour, (left, 0, left + columns, height))
        left += columns
    buffer = io.BytesIO()
    canvas.save(buffer, "PNG" if media_type == "image/png" else "JPEG", quality=95)
    return Image(media_type, buffer.getvalue(), width, height)


def red_and_blue() -> Image:
    """64×48 pixels: the left three quarters red, the right quarter blue."""
    return picture(64, 48, [(48, (255, 0, 0)), (16, (0, 0, 255))])


RED_AND_BLUE_SENTENCE = "Image 1 is 64×48 pixels, mostly red (#ff0000) and blue (#0000ff)."


def solid(colour: RGB, width: int = 64, height: int = 48) -> Image:
    return picture(width, height, [(width, colour)])
