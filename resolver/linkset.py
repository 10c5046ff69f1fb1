"""GS1 link types for a stamp, as an RFC 9264 linkset, and the resolver description document."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

GS1_VOC = "https://gs1.org/voc/"
LINKSET_MEDIA_TYPE = "application/linkset+json"


@dataclass(frozen=True, slots=True)
class Link:
    link_type: str  # short form, e.g. "gs1:pip"
    href: str
    title: str
    media_type: str
    hreflang: tuple[str, ...] = ()

    @property
    def relation(self) -> str:
        return GS1_VOC + self.link_type.removeprefix("gs1:")


def lot_path(gtin: str, lot: str) -> str:
    return f"/01/{gtin}/10/{quote(lot, safe='')}"


def stamp_links(base: str, gtin: str, serial: int, lot: str, stamp_uri: str) -> list[Link]:
    """gs1:defaultLink and gs1:pip lead to the trace page; there is exactly one default link."""
    trace = f"{base}{lot_path(gtin, lot)}?{urlencode({'serial': serial})}"
    languages = ("vi", "en", "zh")
    return [
        Link("gs1:defaultLink", trace, "Trace page", "text/html", languages),
        Link("gs1:pip", trace, "Product information", "text/html", languages),
        Link(
            "gs1:traceability",
            f"{base}/api/v1/public/lot-events?{urlencode({'gtin': gtin, 'lot': lot})}",
            "Lot events (EPCIS 2.0)",
            "application/ld+json",
        ),
        Link(
            "gs1:verificationService",
            f"{base}/api/v1/stamps/verify?{urlencode({'uri': stamp_uri})}",
            "Inspector verification",
            "application/json",
        ),
    ]


def linkset(anchor: str, description: str, links: list[Link]) -> dict[str, Any]:
    entry: dict[str, Any] = {"anchor": anchor, "itemDescription": description}
    for link in links:
        target: dict[str, Any] = {"href": link.href, "title": link.title, "type": link.media_type}
        if link.hreflang:
            target["hreflang"] = list(link.hreflang)
        entry.setdefault(link.relation, []).append(target)
    return {"linkset": [entry]}


def find(links: list[Link], link_type: str) -> Link | None:
    wanted = link_type.strip()
    if wanted.startswith(GS1_VOC) or wanted.startswith("http://gs1.org/voc/"):
        wanted = "gs1:" + wanted.rsplit("/", 1)[1]
    return next((link for link in links if link.link_type == wanted), None)


def resolver_description(base: str) -> dict[str, Any]:
    return {
        "name": "Tem stamp resolver",
        "resolverRoot": base,
        "supportedPrimaryKeys": ["01"],
        "supportedLinkType": [{"namespace": GS1_VOC, "prefix": "gs1:", "profile": GS1_VOC}],
        "linkTypeDefaultCanBeLinkset": True,
        "linkTypeDefaultCanBeAll": True,
        "supportedContextValuesEnumerated": [],
        "validatesAIcombination": True,
        "keySet": f"{base}/.well-known/tem-keys.json",
    }
