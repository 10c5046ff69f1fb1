"""The EPCIS Event Hash ID of CBV 2.0: the canonical pre-hash string of one event, then SHA-256.

`event_hash_id(event)` gives `ni:///sha-256;{hex}?ver=CBV2.0` for one EPCIS 2.0 JSON-LD event (a member of
`epcisBody.eventList`); `pre_hash_string(event)` gives the string that is hashed. Standard library only.

Where the text leaves room we follow the GS1 reference implementation (RalphTro/epcis-event-hash-generator):
an http(s) URI whose path holds a GS1 key becomes https://id.gs1.org/{key}[/{finest qualifier}] (host replaced,
query dropped, serial kept over lot); `certificationInfo` is left out like `eventID`, `recordTime` and
`errorDeclaration`; extensions inside readPoint/bizLocation/sensorElement form a block after `ilmd` (CBV 2.0).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

__all__ = ["event_hash_id", "pre_hash_string"]

CBV_VERSION = "CBV2.0"
_CBV = "https://ref.gs1.org/cbv/"
_VOC = "https://ref.gs1.org/voc/"
_DL_HOST = "https://id.gs1.org"

# Prefixes every EPCIS 2.0 document has; the XML namespace of CBV master data has no trailing '#'.
_BUILTIN_PREFIXES: dict[str, str] = {"cbvmda": "urn:epcglobal:cbv:mda"}

_CBV_URNS = (
    ("urn:epcglobal:cbv:bizstep:", _CBV + "BizStep-"),
    ("urn:epcglobal:cbv:disp:", _CBV + "Disp-"),
    ("urn:epcglobal:cbv:btt:", _CBV + "BTT-"),
    ("urn:epcglobal:cbv:sdt:", _CBV + "SDT-"),
    ("urn:epcglobal:cbv:er:", _CBV + "ER-"),
)
_CURIES = (("cbv:", _CBV), ("gs1:", _VOC))

# The event's own fields; every other key is a user extension. Excluded fields are listed here too.
_STANDARD_KEYS = frozenset(
    {
        "@context", "type", "eventType", "eventTime", "eventTimeZoneOffset", "eventID", "recordTime",
        "errorDeclaration", "certificationInfo", "epcList", "parentID", "inputEPCList", "childEPCs",
        "quantityList", "childQuantityList", "inputQuantityList", "outputEPCList", "outputQuantityList",
        "action", "transformationID", "bizStep", "disposition", "persistentDisposition", "readPoint",
        "bizLocation", "bizTransactionList", "sourceList", "destinationList", "sensorElementList", "ilmd",
    }
)  # fmt: skip

_SENSOR_METADATA_ORDER = (
    "time", "startTime", "endTime", "deviceID", "deviceMetadata", "rawData", "dataProcessingMethod", "bizRules",
)  # fmt: skip
_SENSOR_REPORT_ORDER = (
    "type", "exception", "deviceID", "deviceMetadata", "rawData", "dataProcessingMethod", "time", "microorganism",
    "chemicalSubstance", "value", "component", "stringValue", "booleanValue", "hexBinaryValue", "uriValue",
    "minValue", "maxValue", "meanValue", "sDev", "percRank", "percValue", "uom", "coordinateReferenceSystem",
)  # fmt: skip
_TIME_KEYS = frozenset({"eventTime", "time", "startTime", "endTime"})

_NUMERIC = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?", re.IGNORECASE
)


def pre_hash_string(event: Mapping[str, Any], context: Mapping[str, str] | None = None) -> str:
    """The canonical pre-hash string of one EPCIS 2.0 JSON-LD event (CBV 2.0 property order and rules).

    `context` maps the prefixes of extension fields ("tem:foo") to their namespace IRIs; a dict in the event's own
    `@context` is read too.
    """
    prefixes = _prefixes(event, context)
    event_type = event.get("type", event.get("eventType"))
    if not isinstance(event_type, str) or not event_type.strip():
        raise ValueError("an EPCIS event needs its type (ObjectEvent, AggregationEvent, ...)")
    parts = [f"eventType={event_type.strip()}"]
    parts.append(_scalar("eventTime", event.get("eventTime")))
    parts.append(_scalar("eventTimeZoneOffset", event.get("eventTimeZoneOffset")))
    parts.append(_epcs("epcList", event.get("epcList")))
    parts.append(_scalar("parentID", event.get("parentID")))
    parts.append(_epcs("inputEPCList", event.get("inputEPCList")))
    parts.append(_epcs("childEPCs", event.get("childEPCs")))
    for name in ("quantityList", "childQuantityList", "inputQuantityList"):
        parts.append(_quantities(name, event.get(name)))
    parts.append(_epcs("outputEPCList", event.get("outputEPCList")))
    parts.append(_quantities("outputQuantityList", event.get("outputQuantityList")))
    parts.append(_scalar("action", event.get("action")))
    parts.append(_scalar("transformationID", event.get("transformationID")))
    parts.append(_scalar("bizStep", event.get("bizStep"), vocab=_CBV + "BizStep-"))
    parts.append(_scalar("disposition", event.get("disposition"), vocab=_CBV + "Disp-"))
    parts.append(_persistent_disposition(event.get("persistentDisposition")))
    parts.append(_place("readPoint", event.get("readPoint")))
    parts.append(_place("bizLocation", event.get("bizLocation")))
    parts.append(_typed_list("bizTransactionList", "bizTransaction", event.get("bizTransactionList"), "BTT-"))
    parts.append(_typed_list("sourceList", "source", event.get("sourceList"), "SDT-"))
    parts.append(_typed_list("destinationList", "destination", event.get("destinationList"), "SDT-"))
    sensors = [s for s in _as_list(event.get("sensorElementList")) if isinstance(s, Mapping)]
    parts.append("".join(sorted(_sensor_element(s) for s in sensors)))
    ilmd = event.get("ilmd")
    if isinstance(ilmd, Mapping) and (ilmd_children := _children(ilmd, prefixes)):
        parts.append("ilmd" + ilmd_children)
    # CBV 2.0: extensions inside standard fields follow, each block named by its field, then the event's own.
    parts.append(_leftovers("readPoint", event.get("readPoint"), ("id",), prefixes))
    parts.append(_leftovers("bizLocation", event.get("bizLocation"), ("id",), prefixes))
    parts.append("".join(sorted(_sensor_leftovers(s, prefixes) for s in sensors)))
    extensions = {key: value for key, value in event.items() if key not in _STANDARD_KEYS}
    parts.append(_children(extensions, prefixes))
    return "".join(parts)


def event_hash_id(event: Mapping[str, Any], context: Mapping[str, str] | None = None) -> str:
    """The Event Hash ID: `ni:///sha-256;{lowercase hex of SHA-256 of the pre-hash string}?ver=CBV2.0`."""
    digest = hashlib.sha256(pre_hash_string(event, context).encode("utf-8")).hexdigest()
    return f"ni:///sha-256;{digest}?ver={CBV_VERSION}"


# --- the standard fields, in the canonical property order ---


def _scalar(name: str, value: Any, *, vocab: str | None = None) -> str:
    text = _value(value, time=name in _TIME_KEYS, vocab=vocab)
    return f"{name}={text}" if text else ""


def _epcs(name: str, values: Any) -> str:
    items = sorted(_scalar("epc", v) for v in _as_list(values))
    return name + "".join(items) if any(items) else ""


def _quantities(name: str, values: Any) -> str:
    items = []
    for element in _as_list(values):
        if isinstance(element, Mapping):
            body = "".join(_scalar(key, element.get(key)) for key in ("epcClass", "quantity", "uom"))
            if body:
                items.append("quantityElement" + body)
    return name + "".join(sorted(items)) if items else ""


def _persistent_disposition(value: Any) -> str:
    if not isinstance(value, Mapping):
        return ""
    body = "".join(
        "".join(sorted(_scalar(key, v, vocab=_CBV + "Disp-") for v in _as_list(value.get(key))))
        for key in ("set", "unset")
    )
    return "persistentDisposition" + body if body else ""


def _place(name: str, value: Any) -> str:
    if not isinstance(value, Mapping):
        return ""
    body = _scalar("id", value.get("id"))
    return name + body if body else ""


def _typed_list(name: str, member: str, values: Any, vocab: str) -> str:
    items = []
    for entry in _as_list(values):
        if isinstance(entry, Mapping):
            body = _scalar("type", entry.get("type"), vocab=_CBV + vocab) + _scalar(member, entry.get(member))
        else:
            body = _scalar(member, entry)
        if body:
            items.append(body)
    return name + "".join(sorted(items)) if items else ""


def _sensor_element(element: Mapping[str, Any]) -> str:
    metadata = element.get("sensorMetadata")
    body = ""
    if isinstance(metadata, Mapping):
        fields = "".join(_scalar(key, metadata.get(key)) for key in _SENSOR_METADATA_ORDER)
        body = "sensorMetadata" + fields if fields else ""
    reports = []
    for report in _as_list(element.get("sensorReport")):
        if isinstance(report, Mapping):
            fields = "".join(
                _scalar(key, report.get(key), vocab=_VOC if key == "type" else None) for key in _SENSOR_REPORT_ORDER
            )
            if fields:
                reports.append("sensorReport" + fields)
    body += "".join(sorted(reports))
    return "sensorElement" + body if body else ""


def _leftovers(name: str, value: Any, regular: Iterable[str], prefixes: Mapping[str, str]) -> str:
    if not isinstance(value, Mapping):
        return ""
    skip = set(regular)
    rest = _children({k: v for k, v in value.items() if k not in skip}, prefixes)
    return name + rest if rest else ""


def _sensor_leftovers(element: Mapping[str, Any], prefixes: Mapping[str, str]) -> str:
    blocks = [_leftovers("sensorMetadata", element.get("sensorMetadata"), _SENSOR_METADATA_ORDER, prefixes)]
    blocks += [
        _leftovers("sensorReport", r, _SENSOR_REPORT_ORDER, prefixes) for r in _as_list(element.get("sensorReport"))
    ]
    own = {k: v for k, v in element.items() if k not in {"sensorMetadata", "sensorReport"}}
    items = sorted([b for b in blocks if b] + _extension(own, prefixes))
    return "sensorElement" + "".join(items) if items else ""


# --- user extensions and ILMD: {namespace}localName=value, siblings sorted ---


def _children(fields: Mapping[str, Any], prefixes: Mapping[str, str]) -> str:
    return "".join(sorted(_extension(fields, prefixes)))


def _extension(fields: Mapping[str, Any], prefixes: Mapping[str, str]) -> list[str]:
    items: list[str] = []
    for key, value in fields.items():
        if key != "@context":
            items.extend(_extension_member(_expand_key(key, prefixes), value, prefixes))
    return items


def _extension_member(name: str, value: Any, prefixes: Mapping[str, str]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [name + _children(value, prefixes)]
    if isinstance(value, list | tuple):
        return [item for member in value for item in _extension_member(name, member, prefixes)]
    text = _value(value)
    return [f"{name}={text}" if text else name]


def _expand_key(key: str, prefixes: Mapping[str, str]) -> str:
    prefix, colon, local = key.partition(":")
    if colon and prefix in prefixes:
        return "{" + prefixes[prefix] + "}" + local
    return key


def _prefixes(event: Mapping[str, Any], context: Mapping[str, str] | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for entry in _as_list(event.get("@context")):
        if isinstance(entry, Mapping):
            found.update({k: v for k, v in entry.items() if isinstance(v, str)})
    found.update(context or {})
    found.update(_BUILTIN_PREFIXES)
    return found


# --- values ---


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _value(value: Any, *, time: bool = False, vocab: str | None = None) -> str:
    """One value as the pre-hash string writes it ('' when absent)."""
    if value is None or isinstance(value, Mapping | list | tuple):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return _number(Decimal(repr(value)) if isinstance(value, float) else Decimal(value))
    text = str(value).strip()
    if not text:
        return ""
    if time:
        return _timestamp(text)
    if vocab is not None and ":" not in text:
        return vocab + text
    for urn, web in _CBV_URNS:
        if text.startswith(urn):
            return web + text[len(urn) :]
    for curie, iri in _CURIES:
        if text.startswith(curie):
            return iri + text[len(curie) :]
    if _NUMERIC.fullmatch(text):
        return _number(Decimal(text))
    return _digital_link(text) or text


def _number(number: Decimal) -> str:
    if not number.is_finite():
        return str(number)
    if number == 0:
        return "0"
    return format(number.normalize(), "f")


def _timestamp(text: str) -> str:
    """UTC, 'Z', millisecond precision; a 4th decimal of 5-9 rounds the 3rd up. Unreadable text stays as is."""
    m = _TIMESTAMP.fullmatch(text)
    if m is None:
        return text
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    fraction, zone = m.group(7) or "0", (m.group(8) or "Z").upper()
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return text
    millis = int((Decimal("0." + fraction) * 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    moment += timedelta(milliseconds=millis)
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        moment -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# --- GS1 identifiers: EPC URIs and Digital Link URIs to constrained canonical Digital Link ---


def _check_digit(digits: str) -> str:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def _dl_escape(text: str) -> str:
    for char, escaped in (("!", "%21"), ("(", "%28"), (")", "%29"), ("*", "%2A"), ("+", "%2B"), (",", "%2C")):
        text = text.replace(char, escaped)
    return text.replace(":", "%3A")


def _company(prefix: str, reference: str, total: int) -> bool:
    return 6 <= len(prefix) <= 12 and (prefix + reference).isdigit() and len(prefix) + len(reference) == total


def _gtin(prefix: str, item: str) -> str:
    body = item[:1] + prefix + item[1:]
    return body + _check_digit(body)


def _with_check(digits: str) -> str:
    return digits + _check_digit(digits)


def _epc_to_dl(uri: str) -> str | None:
    m = re.fullmatch(r"urn:epc:(id|class|idpat):([a-z]+):(.+)", uri)
    if m is None:
        return None
    family, scheme, rest = m.groups()
    fields = rest.split(".")
    path: str | None = None
    if family == "id":
        path = _epc_id_path(scheme, fields)
    elif family == "class" and scheme == "lgtin" and len(fields) == 3 and _company(fields[0], fields[1], 13):
        path = f"/01/{_gtin(fields[0], fields[1])}/10/{_dl_escape(fields[2])}"
    elif family == "idpat" and len(fields) == 3 and fields[2] == "*":
        cp, ref = fields[0], fields[1]
        if scheme == "sgtin" and _company(cp, ref, 13):
            path = f"/01/{_gtin(cp, ref)}"
        elif scheme == "grai" and _company(cp, ref, 12):
            path = f"/8003/{_with_check('0' + cp + ref)}"
        elif scheme == "gdti" and _company(cp, ref, 12):
            path = f"/253/{_with_check(cp + ref)}"
        elif scheme == "sgcn" and _company(cp, ref, 12):
            path = f"/255/{_with_check(cp + ref)}"
    return _DL_HOST + path if path else None


def _epc_id_path(scheme: str, f: list[str]) -> str | None:  # noqa: PLR0912 -- one branch per EPC scheme
    n = len(f)
    if scheme == "sgtin" and n >= 3 and _company(f[0], f[1], 13):
        return f"/01/{_gtin(f[0], f[1])}/21/{_dl_escape('.'.join(f[2:]))}"
    if scheme == "sscc" and n == 2 and _company(f[0], f[1], 17):
        return f"/00/{_with_check(f[1][:1] + f[0] + f[1][1:])}"
    if scheme == "sgln" and n >= 3 and _company(f[0], f[1], 12):
        extension = ".".join(f[2:])
        gln = _with_check(f[0] + f[1])
        return f"/414/{gln}" if extension == "0" else f"/414/{gln}/254/{_dl_escape(extension)}"
    if scheme == "grai" and n >= 3 and _company(f[0], f[1], 12):
        return f"/8003/{_with_check('0' + f[0] + f[1])}{_dl_escape('.'.join(f[2:]))}"
    if scheme in {"giai", "ginc"} and n >= 2 and _company(f[0], "", len(f[0])):
        return f"/{'8004' if scheme == 'giai' else '401'}/{f[0]}{_dl_escape('.'.join(f[1:]))}"
    if scheme in {"gsrn", "gsrnp"} and n == 2 and _company(f[0], f[1], 17):
        return f"/{'8018' if scheme == 'gsrn' else '8017'}/{_with_check(f[0] + f[1])}"
    if scheme == "gdti" and n >= 3 and _company(f[0], f[1], 12):
        return f"/253/{_with_check(f[0] + f[1])}{_dl_escape('.'.join(f[2:]))}"
    if scheme == "sgcn" and n == 3 and _company(f[0], f[1], 12) and f[2].isdigit():
        return f"/255/{_with_check(f[0] + f[1])}{f[2]}"
    if scheme == "cpi" and n >= 3 and _company(f[0], "", len(f[0])) and f[-1].isdigit():
        return f"/8010/{f[0]}{_dl_escape('.'.join(f[1:-1]))}/8011/{f[-1]}"
    if scheme == "gsin" and n == 2 and _company(f[0], f[1], 16):
        return f"/402/{_with_check(f[0] + f[1])}"
    if scheme == "itip" and n >= 5 and _company(f[0], f[1], 13) and (f[2] + f[3]).isdigit():
        return f"/8006/{_gtin(f[0], f[1])}{f[2]}{f[3]}/21/{_dl_escape('.'.join(f[4:]))}"
    if scheme == "upui" and n >= 3 and _company(f[0], f[1], 13):
        return f"/01/{_gtin(f[0], f[1])}/235/{_dl_escape('.'.join(f[2:]))}"
    if scheme == "pgln" and n == 2 and _company(f[0], f[1], 12):
        return f"/417/{_with_check(f[0] + f[1])}"
    return None


# Primary keys: the pattern of their value, and the qualifiers kept, finest first.
_DL_KEYS: dict[str, tuple[str, tuple[str, ...]]] = {
    "00": (r"\d{18}", ()),
    "01": (r"\d{8}|\d{12,14}", ("21", "235", "10")),
    "253": (r"\d{13}[^/]{0,17}", ()),
    "255": (r"\d{13}\d{0,12}", ()),
    "401": (r"[^/]{1,30}", ()),
    "402": (r"\d{17}", ()),
    "414": (r"\d{13}", ("254",)),
    "417": (r"\d{13}", ()),
    "8003": (r"\d{14}[^/]{0,16}", ()),
    "8004": (r"[^/]{1,30}", ()),
    "8006": (r"\d{18}", ("21", "10")),
    "8010": (r"[^/]{1,30}", ("8011",)),
    "8017": (r"\d{18}", ()),
    "8018": (r"\d{18}", ()),
}


def _web_dl(uri: str) -> str | None:
    m = re.fullmatch(r"https?://[^/?#]+(/[^?#]*)(?:\?[^#]*)?(?:#.*)?", uri, re.IGNORECASE)
    if m is None:
        return None
    segments = m.group(1).split("/")[1:]
    for start, key in enumerate(segments[:-1]):
        pattern_and_qualifiers = _DL_KEYS.get(key)
        if pattern_and_qualifiers is None:
            continue
        pattern, qualifiers = pattern_and_qualifiers
        value = segments[start + 1]
        if not re.fullmatch(pattern, value):
            continue
        if key == "01":
            value = value.zfill(14)
        rest = segments[start + 2 :]
        pairs = {rest[i]: rest[i + 1] for i in range(0, len(rest) - 1, 2) if rest[i + 1]}
        path = f"/{key}/{value}"
        for qualifier in qualifiers:
            if qualifier in pairs:
                path += f"/{qualifier}/{pairs[qualifier]}"
                break
        return _DL_HOST + path
    return None


def _digital_link(text: str) -> str | None:
    if text.startswith("urn:epc:"):
        return _epc_to_dl(text)
    if text[:8].lower().startswith(("https://", "http://")):
        return _web_dl(text)
    return None
