"""Images attached to prompts: validated with Pillow, cleaned, re-encoded, moderated and stored by content.

An upload is judged by its bytes, never by its name or declared type: Pillow must recognise it as PNG, JPEG,
WebP or GIF (the first frame of an animation is taken). Its header's size is checked against
ARENA_IMAGE_MAX_PIXELS before any pixel is decoded, so a decompression bomb costs nothing. The decoded pixels,
turned upright by their EXIF orientation, are copied into a fresh image that carries no metadata at all (EXIF,
GPS, XMP, ICC profiles, text chunks: the voter's privacy), scaled down to ARENA_IMAGE_MAX_SIDE and re-encoded:
JPEG stays JPEG, everything else becomes PNG. Only that result is stored, under its SHA-256, through the
storage ``arena_images`` (config/settings.py), and only it is ever sent to a provider.

The moderation hook ARENA_IMAGE_MODERATION, when set, sees every cleaned image before it is stored; it answers
None (or True) to let it through, or a reason (or False) to refuse it; a hook that fails refuses every image
(fail closed) with a 503.
"""

from __future__ import annotations

import hashlib
import io
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

from model_adapters.conversation import Image

from .errors import InvalidInput, Unavailable
from .models import StoredImage

log = logging.getLogger(__name__)

STORAGE = "arena_images"
#: Pillow's format names of the uploads taken, and their media types.
ACCEPTED = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
JPEG_QUALITY = 90
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg"}


@dataclass(frozen=True)
class Cleaned:
    """An upload after validation: the bytes to store and send, and what it was."""

    data: bytes
    media_type: str
    width: int
    height: int
    source_type: str  # the media type the upload really was (by content)
    source_bytes: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def image_clean(data: bytes, number: int) -> Cleaned:
    """Validate and clean one upload (``number`` counts from 1, for the messages); InvalidInput says what is wrong."""
    limit = settings.ARENA_IMAGE_MAX_BYTES
    if not data:
        raise InvalidInput(_("Image %(number)s is an empty file.") % {"number": number})
    if len(data) > limit:
        raise InvalidInput(_("Image %(number)s is %(size)s; the limit is %(limit)s.")
                           % {"number": number, "size": _megabytes(len(data)), "limit": _megabytes(limit)})
    not_image = _("Image %(number)s is not a PNG, JPEG, WebP or GIF image.") % {"number": number}
    damaged = _("Image %(number)s is damaged or cut short and cannot be read.") % {"number": number}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            source = PILImage.open(io.BytesIO(data), formats=list(ACCEPTED))
    except UnidentifiedImageError:
        raise InvalidInput(not_image) from None
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
        raise InvalidInput(_too_many_pixels(number)) from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise InvalidInput(damaged) from None
    with source:
        width, height = source.size
        if width < 1 or height < 1:
            raise InvalidInput(damaged)
        if width * height > settings.ARENA_IMAGE_MAX_PIXELS:
            raise InvalidInput(_too_many_pixels(number))
        source_type = ACCEPTED[source.format or ""]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", PILImage.DecompressionBombWarning)
                source.seek(0)  # the first frame of an animation
                source.load()
                upright = ImageOps.exif_transpose(source)
        except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
            raise InvalidInput(_too_many_pixels(number)) from None
        except (OSError, SyntaxError, ValueError, EOFError, IndexError):
            raise InvalidInput(damaged) from None
    return _reencode(upright, source_type, len(data))


def _reencode(image: PILImage.Image, source_type: str, source_bytes: int) -> Cleaned:
    keep_jpeg = source_type == "image/jpeg"
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    mode = "RGB" if keep_jpeg or not has_alpha else "RGBA"
    if image.mode == "L" and not has_alpha:
        mode = "L"
    converted = image.convert(mode)
    # A fresh image holding only the pixels: no EXIF, ICC profile, text chunk or other metadata travels along.
    pixels = PILImage.frombytes(mode, converted.size, converted.tobytes())
    side = settings.ARENA_IMAGE_MAX_SIDE
    if max(pixels.size) > side:
        pixels.thumbnail((side, side), PILImage.Resampling.LANCZOS)
    out = io.BytesIO()
    if keep_jpeg:
        pixels.save(out, format="JPEG", quality=JPEG_QUALITY)
        media_type = "image/jpeg"
    else:
        pixels.save(out, format="PNG")
        media_type = "image/png"
    return Cleaned(out.getvalue(), media_type, pixels.width, pixels.height, source_type, source_bytes)


def _too_many_pixels(number: int) -> str:
    return _("Image %(number)s has more than %(limit)s pixels.") % {
        "number": number, "limit": f"{settings.ARENA_IMAGE_MAX_PIXELS:,}"}


def _megabytes(size: int) -> str:
    """A file size as people read it: 4.0 KB, 12.5 MB."""
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def uploads_read(files: Sequence[Any]) -> list[bytes]:
    """The bytes of each uploaded file, refusing too many files or a file too large before reading it."""
    limit = settings.ARENA_MAX_IMAGES
    if files and limit == 0:
        raise InvalidInput(_("This arena does not take images."))
    if len(files) > limit:
        raise InvalidInput(ngettext("A prompt takes at most %(limit)s image.", "A prompt takes at most %(limit)s images.",
                                    limit) % {"limit": limit})
    contents = []
    for number, upload in enumerate(files, start=1):
        if not isinstance(upload, UploadedFile):
            raise InvalidInput(_("Image %(number)s is not an uploaded file.") % {"number": number})
        if upload.size is not None and upload.size > settings.ARENA_IMAGE_MAX_BYTES:
            raise InvalidInput(_("Image %(number)s is %(size)s; the limit is %(limit)s.") % {
                "number": number, "size": _megabytes(upload.size), "limit": _megabytes(settings.ARENA_IMAGE_MAX_BYTES)})
        upload.seek(0)
        contents.append(upload.read(settings.ARENA_IMAGE_MAX_BYTES + 1))
    return contents


def images_prepare(contents: Sequence[bytes]) -> list[Cleaned]:
    """Clean every upload and pass each through the moderation hook; nothing is stored yet."""
    cleaned = [image_clean(data, number) for number, data in enumerate(contents, start=1)]
    for number, image in enumerate(cleaned, start=1):
        _moderate(image, number)
    return cleaned


def _moderate(image: Cleaned, number: int) -> None:
    path = settings.ARENA_IMAGE_MODERATION
    if not path:
        return
    try:
        hook = import_string(path)
        verdict = hook(data=image.data, media_type=image.media_type, width=image.width, height=image.height,
                       sha256=image.sha256)
    except Exception:  # fail closed: an image nobody could check is not sent anywhere
        log.exception("the image moderation hook %s failed", path)
        raise Unavailable(_("Images cannot be checked right now; please try again later.")) from None
    if verdict is None or verdict is True:
        return
    reason = verdict if isinstance(verdict, str) and verdict else _("it breaks this arena's rules")
    raise InvalidInput(_("Image %(number)s was refused: %(reason)s.") % {"number": number, "reason": reason})


def image_store(image: Cleaned) -> StoredImage:
    """Store the cleaned image under its SHA-256 (once: the same picture uploaded twice is one file and one row).

    The file is written before the row; a file whose row is rolled back stays behind, harmless: it is found
    again by its name the next time the same picture comes.
    """
    sha = image.sha256
    name = f"{sha[:2]}/{sha}.{EXTENSIONS[image.media_type]}"
    storage = storages[STORAGE]
    if not storage.exists(name):
        saved = storage.save(name, ContentFile(image.data))
        if saved != name:  # another process stored the same picture in between; keep one copy
            storage.delete(saved)
    row = StoredImage.objects.filter(sha256=sha).first()
    if row is not None:
        return row
    try:
        with transaction.atomic():
            return StoredImage.objects.create(sha256=sha, name=name, media_type=image.media_type, width=image.width,
                                              height=image.height, size=len(image.data))
    except IntegrityError:  # stored at the same moment by another request
        return StoredImage.objects.get(sha256=sha)


def image_bytes(stored: StoredImage) -> bytes:
    with storages[STORAGE].open(stored.name, "rb") as handle:
        data: bytes = handle.read()
    return data


def adapter_image(stored: StoredImage) -> Image:
    """The stored image as the adapters take it."""
    return Image(media_type=stored.media_type, data=image_bytes(stored), width=stored.width, height=stored.height)
