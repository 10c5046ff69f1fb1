"""Vietnam's 34 provinces since 1 July 2025, and the 63 former names that older addresses still use."""

from __future__ import annotations

import unicodedata

# Current province -> former provinces merged into it (Resolution 202/2025/QH15).
MERGED_INTO: dict[str, tuple[str, ...]] = {
    "Hà Nội": (),
    "Huế": ("Thừa Thiên Huế",),  # renamed, not merged
    "Lai Châu": (),
    "Điện Biên": (),
    "Sơn La": (),
    "Lạng Sơn": (),
    "Quảng Ninh": (),
    "Thanh Hóa": (),
    "Nghệ An": (),
    "Hà Tĩnh": (),
    "Cao Bằng": (),
    "Tuyên Quang": ("Hà Giang",),
    "Lào Cai": ("Yên Bái",),
    "Thái Nguyên": ("Bắc Kạn",),
    "Phú Thọ": ("Vĩnh Phúc", "Hòa Bình"),
    "Bắc Ninh": ("Bắc Giang",),
    "Hưng Yên": ("Thái Bình",),
    "Hải Phòng": ("Hải Dương",),
    "Ninh Bình": ("Hà Nam", "Nam Định"),
    "Quảng Trị": ("Quảng Bình",),
    "Đà Nẵng": ("Quảng Nam",),
    "Quảng Ngãi": ("Kon Tum",),
    "Gia Lai": ("Bình Định",),
    "Khánh Hòa": ("Ninh Thuận",),
    "Lâm Đồng": ("Đắk Nông", "Bình Thuận"),
    "Đắk Lắk": ("Phú Yên",),
    "Hồ Chí Minh": ("Bình Dương", "Bà Rịa - Vũng Tàu"),
    "Đồng Nai": ("Bình Phước",),
    "Tây Ninh": ("Long An",),
    "Cần Thơ": ("Sóc Trăng", "Hậu Giang"),
    "Vĩnh Long": ("Bến Tre", "Trà Vinh"),
    "Đồng Tháp": ("Tiền Giang",),
    "Cà Mau": ("Bạc Liêu",),
    "An Giang": ("Kiên Giang",),
}

_PREFIXES = ("tinh ", "thanh pho ", "tp ", "tp. ", "province ", "city ")


def fold_name(name: str) -> str:
    """Compare names without case, diacritics, hyphens or 'Tỉnh'/'Thành phố' prefixes."""
    text = unicodedata.normalize("NFD", name.replace("đ", "d").replace("Đ", "D"))
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn").lower()
    text = " ".join(text.replace("–", " ").replace("-", " ").split())
    for prefix in _PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix) :]
    return text.replace(" ", "")


_LOOKUP: dict[str, str] = {}
for _current, _former in MERGED_INTO.items():
    _LOOKUP[fold_name(_current)] = _current
    for _old in _former:
        _LOOKUP[fold_name(_old)] = _current
_LOOKUP[fold_name("Thành phố Hồ Chí Minh")] = "Hồ Chí Minh"
_LOOKUP[fold_name("Sài Gòn")] = "Hồ Chí Minh"
_LOOKUP[fold_name("Đắc Lắc")] = "Đắk Lắk"
_LOOKUP[fold_name("Thanh Hoá")] = "Thanh Hóa"
_LOOKUP[fold_name("Khánh Hoà")] = "Khánh Hòa"
_LOOKUP[fold_name("Hoà Bình")] = "Phú Thọ"

CURRENT_PROVINCES: tuple[str, ...] = tuple(MERGED_INTO)


def normalize_province(name: str) -> str | None:
    """The current province for a current or former name, or None when it is not a Vietnamese province."""
    return _LOOKUP.get(fold_name(name))


# The border crossings durian takes to China; a lot may declare which of them it uses.
BORDER_GATES: tuple[str, ...] = ("Hữu Nghị/Tân Thanh", "Kim Thành", "Móng Cái")
_GATES = {fold_name(part): name for name in BORDER_GATES for part in (name, *name.split("/"))}


def normalize_border_gate(name: str) -> str | None:
    """The canonical name of a border gate, from any spelling of either of its names."""
    return _GATES.get(fold_name(name))
