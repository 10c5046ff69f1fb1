"""A report's photo made safe to keep and show: decoded with Pillow within bounds, turned upright, shrunk, and
re-encoded as a JPEG that carries nothing but the pixels.

What a phone's photo may hide is dropped by re-encoding: EXIF (with the GPS position of the person's home, the
phone's serial number), XMP, ICC profiles and comments. The EXIF orientation is applied first, so the picture
still stands the right way up without it. Bytes in, bytes out: no settings, database or web framework.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from resolver.report_form import MAX_PHOTO_BYTES

#: What is decoded at all: the formats phones and their browsers send. Nothing else reaches a decoder.
FORMATS = ("JPEG", "PNG", "WEBP")
#: A decompression bomb is refused from its header, before any pixel is decoded: a 48-megapixel phone photo
#: passes, a small file that would unpack to gigabytes does not.
MAX_PIXELS = 50_000_000
#: The longest side kept: enough to read a printed stamp, a few hundred kilobytes as a JPEG.
LONGEST_SIDE = 1600
JPEG_QUALITY = 82


class PhotoRefused(ValueError):
    """A photo that is not kept; `reason` names why, in `resolver.i18n`'s words (`report_{reason}`)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Photo:
    jpeg: bytes
    width: int
    height: int


def prepare(data: bytes) -> Photo:
    """The photo to keep, or `PhotoRefused`: "too_large", "too_many_pixels", "not_image" or "damaged"."""
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoRefused("too_large", f"the photo is {len(data)} bytes, more than {MAX_PHOTO_BYTES}")
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as image:
            if image.width * image.height > MAX_PIXELS:
                raise PhotoRefused("too_many_pixels", f"{image.width}x{image.height} is more than {MAX_PIXELS} pixels")
            # A JPEG is decoded at 1/2, 1/4 or 1/8 scale when that is still larger than what is kept: a big
            # photo never takes its full size in memory.
            image.draft("RGB", (LONGEST_SIDE, LONGEST_SIDE))
            image.load()
            upright = ImageOps.exif_transpose(image)
            flat = _on_white(upright)
    except PhotoRefused:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's own guard, in case its limit is ever the lower one
        raise PhotoRefused("too_many_pixels", str(exc)) from None
    except UnidentifiedImageError as exc:
        raise PhotoRefused("not_image", str(exc)) from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:  # truncated or corrupt data
        raise PhotoRefused("damaged", f"{type(exc).__name__}: {exc}") from None
    flat.thumbnail((LONGEST_SIDE, LONGEST_SIDE), Image.Resampling.LANCZOS)
    # Pillow writes what an image's `info` still holds (a JPEG comment, XMP) unless told otherwise: nothing is
    # kept, and no exif=, icc_profile= or comment= is given, so the new file carries none of them.
    flat.info = {}
    out = io.BytesIO()
    flat.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return Photo(out.getvalue(), flat.width, flat.height)


def _on_white(image: Image.Image) -> Image.Image:
    """RGB, with any transparency laid on white (a screenshot's transparent corners would turn black)."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")
