"""Photos are checked by content (JPEG, PNG, HEIC — never by file name), size-limited, and stored
three times: the original, a re-encoded public copy without EXIF (GPS, device), and a thumbnail."""

from __future__ import annotations

import io
import uuid

from django.core.files.base import ContentFile
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from jiedao.kernel.exceptions import DomainError

from ..error_codes import CaseErrorCode
from ..models import CasePhoto

MAX_PHOTOS = 6
MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000  # refuses decompression bombs before decoding
ALLOWED = {"JPEG": "image/jpeg", "PNG": "image/png", "HEIF": "image/heic"}

try:  # HEIC from iPhones; pillow-heif registers the format with Pillow
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - the dependency is in requirements.txt
    pass


def check_photos(files) -> list[tuple[bytes, str]]:
    """Validate uploads; return (bytes, format) pairs. Raises DomainError naming the bad file."""
    files = list(files or [])
    if len(files) > MAX_PHOTOS:
        raise DomainError(CaseErrorCode.TOO_MANY_PHOTOS, _("最多上传%d张照片。") % MAX_PHOTOS)
    out = []
    for i, f in enumerate(files, start=1):
        # An upload knows its size (Django spooled it to a temporary file): refused before it is read into memory.
        if getattr(f, "size", 0) > MAX_BYTES:
            raise DomainError(CaseErrorCode.PHOTO_TOO_LARGE, _("第%d张照片超过10MB。") % i)
        data = f.read(MAX_BYTES + 1) if hasattr(f, "read") else bytes(f)
        if len(data) > MAX_BYTES:
            raise DomainError(CaseErrorCode.PHOTO_TOO_LARGE, _("第%d张照片超过10MB。") % i)
        try:
            with Image.open(io.BytesIO(data)) as img:
                fmt = img.format
                if fmt not in ALLOWED:
                    raise DomainError(CaseErrorCode.PHOTO_INVALID, _("第%d张照片格式不支持（仅限JPEG、PNG、HEIC）。") % i)
                if img.width * img.height > MAX_PIXELS:
                    raise DomainError(CaseErrorCode.PHOTO_TOO_LARGE, _("第%d张照片像素过大。") % i)
                img.verify()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise DomainError(CaseErrorCode.PHOTO_INVALID, _("第%d张文件不是有效的图片。") % i) from exc
        out.append((data, fmt))
    return out


def _reencode(data: bytes, max_side: int | None) -> tuple[bytes, int, int]:
    with Image.open(io.BytesIO(data)) as img:
        img = ImageOps.exif_transpose(img)  # keep the orientation the camera meant, then drop EXIF
        img = img.convert("RGB")
        if max_side:
            img.thumbnail((max_side, max_side))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=85, optimize=True)  # no exif= argument: nothing carried over
        return buf.getvalue(), img.width, img.height


def photos_store(*, case, event, stage: str, checked: list[tuple[bytes, str]]) -> list[CasePhoto]:
    photos = []
    for data, fmt in checked:
        name = uuid.uuid4().hex
        public, w, h = _reencode(data, 2048)
        thumb, _w, _h = _reencode(data, 320)
        ext = {"JPEG": "jpg", "PNG": "png", "HEIF": "heic"}[fmt]
        photo = CasePhoto(subdistrict_id=case.subdistrict_id, case=case, event=event, stage=stage,
                          content_type=ALLOWED[fmt], width=w, height=h)
        photo.image.save(f"{name}.{ext}", ContentFile(data), save=False)
        photo.public_image.save(f"{name}-public.jpg", ContentFile(public), save=False)
        photo.thumbnail.save(f"{name}-thumb.jpg", ContentFile(thumb), save=False)
        photo.save()
        photos.append(photo)
    return photos
