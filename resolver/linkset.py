"""GS1 link types for a stamp, its lot and its product, as RFC 9264 linksets; how a GS1 resolver answers a
request for them (GS1 Conformant Resolver 1.2); and the resolver description document. Pure: no I/O."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

GS1_VOC = "https://gs1.org/voc/"
LINKSET_MEDIA_TYPE = "application/linkset+json"
# GS1's JSON-LD context for linksets (Conformant Resolver 1.2, section 5.13).
LINKSET_CONTEXT = "https://ref.gs1.org/standards/resolver/linkset-context"
JSON_LD_CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"
LANGUAGES = ("vi", "en", "zh")
# Query parameters a redirect never passes on: the stamp's key id and signature, the link type asked for,
# and the ones the trace page sets itself.
NOT_PASSED = frozenset({"k", "s", "linkType", "serial"})


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


@dataclass(frozen=True, slots=True)
class Level:
    """One identified thing and its links: the stamp, its lot or its product (GTIN). A request's linkset
    holds its own level first, then each level up to the primary key."""

    anchor: str
    description: str
    links: tuple[Link, ...]


def lot_path(gtin: str, lot: str) -> str:
    return f"/01/{gtin}/10/{quote(lot, safe='')}"


def product_page(base: str, gtin: str) -> str:
    return f"{base}/products/{gtin}"


def product_level(base: str, gtin: str, name: str) -> Level:
    page = product_page(base, gtin)
    return Level(
        f"{base}/01/{gtin}",
        name,
        (
            Link("gs1:defaultLink", page, "Product page", "text/html", LANGUAGES),
            Link("gs1:pip", page, "Product information", "text/html", LANGUAGES),
        ),
    )


def lot_level(base: str, gtin: str, lot: str) -> Level:
    trace = f"{base}{lot_path(gtin, lot)}"
    return Level(
        trace,
        f"Lot {lot} of {gtin}",
        (
            Link("gs1:defaultLink", trace, "Trace page", "text/html", LANGUAGES),
            Link("gs1:pip", trace, "Product information", "text/html", LANGUAGES),
            Link(
                "gs1:traceability",
                f"{base}/api/v1/public/lot-events?{urlencode({'gtin': gtin, 'lot': lot})}",
                "Lot events (EPCIS 2.0)",
                "application/ld+json",
            ),
        ),
    )


def stamp_level(base: str, gtin: str, serial: int, lot: str, stamp_uri: str | None) -> Level:
    """gs1:defaultLink and gs1:pip lead to the trace page; there is exactly one default link. The verification
    service needs the signed URI, so an unsigned request's stamp level has none."""
    trace = f"{base}{lot_path(gtin, lot)}?{urlencode({'serial': serial})}"
    links = [
        Link("gs1:defaultLink", trace, "Trace page", "text/html", LANGUAGES),
        Link("gs1:pip", trace, "Product information", "text/html", LANGUAGES),
        Link(
            "gs1:traceability",
            f"{base}/api/v1/public/lot-events?{urlencode({'gtin': gtin, 'lot': lot})}",
            "Lot events (EPCIS 2.0)",
            "application/ld+json",
        ),
    ]
    if stamp_uri is not None:
        links.append(
            Link(
                "gs1:verificationService",
                f"{base}/api/v1/stamps/verify?{urlencode({'uri': stamp_uri})}",
                "Inspector verification",
                "application/json",
            )
        )
    return Level(f"{base}/01/{gtin}/21/{serial}", f"Stamp {gtin}/{serial}", tuple(links))


def linkset(levels: Sequence[Level]) -> dict[str, Any]:
    entries = []
    for level in levels:
        entry: dict[str, Any] = {"anchor": level.anchor, "itemDescription": level.description}
        for link in level.links:
            target: dict[str, Any] = {"href": link.href, "title": link.title, "type": link.media_type}
            if link.hreflang:
                target["hreflang"] = list(link.hreflang)
            entry.setdefault(link.relation, []).append(target)
        entries.append(entry)
    return {"linkset": entries}


def find(links: Sequence[Link], link_type: str) -> Link | None:
    wanted = link_type.strip()
    if wanted.startswith(GS1_VOC) or wanted.startswith("http://gs1.org/voc/"):
        wanted = "gs1:" + wanted.rsplit("/", 1)[1]
    return next((link for link in links if link.link_type == wanted), None)


def link_header(level: Level, linkset_href: str) -> str:
    """The Link header of every answer about this level: each of its links with its type and title, and the
    linkset (Conformant Resolver 1.2: SHOULD expose the links, even when redirecting)."""
    parts = [f'<{linkset_href}>; rel="linkset"; type="{LINKSET_MEDIA_TYPE}"; title="All links"']
    for link in level.links:
        text = f'<{link.href}>; rel="{link.relation}"; type="{link.media_type}"; title="{link.title}"'
        if link.hreflang:
            text += f'; hreflang="{" ".join(link.hreflang)}"'
        parts.append(text)
    return ", ".join(parts)


def with_query(href: str, passed: Sequence[tuple[str, str]]) -> str:
    """The target with the request's query string passed on. The request's own pairs come first, so a
    target's query (the trace page's serial) never hides them."""
    if not passed:
        return href
    path, sep, own = href.partition("?")
    return f"{path}?{urlencode(list(passed))}" + (f"&{own}" if sep else "")


def passed_on(query: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in query if k not in NOT_PASSED]


@dataclass(frozen=True, slots=True)
class Answer:
    """What a GS1 resolver answers: a redirect (`location`), a list of links (`body`), or a 404."""

    status: int
    media_type: str | None = None
    location: str | None = None
    body: bytes = b""
    json_ld_context: bool = False


def wants_links(link_type: str | None, accept: str) -> bool:
    """linkType=linkset or all, or no link type and an Accept header asking for a linkset."""
    return link_type in ("linkset", "all") or (link_type is None and LINKSET_MEDIA_TYPE in accept)


def resolve(
    levels: Sequence[Level],
    link_type: str | None,
    accept: str,
    query: Sequence[tuple[str, str]],
) -> Answer:
    """The answer to a request for `levels[0]`: its linkset (as linkset, JSON or JSON-LD, by Accept), a redirect
    to the link type asked for (by default gs1:defaultLink) with the query string passed on, or a 404."""
    if wants_links(link_type, accept):
        document = linkset(levels)
        if "application/ld+json" in accept:
            document = {"@context": LINKSET_CONTEXT, **document}
            media_type = "application/ld+json"
        elif "application/json" in accept and LINKSET_MEDIA_TYPE not in accept:
            media_type = "application/json"
        else:
            media_type = LINKSET_MEDIA_TYPE
        return Answer(200, media_type, body=json.dumps(document).encode(), json_ld_context=True)
    target = find(levels[0].links, link_type or "gs1:defaultLink")
    if target is None:
        body = b'{"error":{"message":"this item has no link of that type"}}'
        return Answer(404, "application/json", body=body)
    return Answer(307, location=with_query(target.href, passed_on(query)))


def context_link() -> str:
    return f'<{LINKSET_CONTEXT}>; rel="{JSON_LD_CONTEXT_REL}"; type="application/ld+json"'


def resolver_description(base: str) -> dict[str, Any]:
    return {
        "name": "Tem stamp resolver",
        "resolverRoot": base,
        "supportedPrimaryKeys": ["01"],
        "supportedLinkType": [{"namespace": GS1_VOC, "prefix": "gs1:", "profile": GS1_VOC}],
        "linkTypeDefaultCanBeLinkset": False,
        "linkTypeDefaultCanBeAll": False,
        "supportedContextValuesEnumerated": [],
        "validatesAIcombination": True,
        "jsonLdContextLocation": LINKSET_CONTEXT,
        "keySet": f"{base}/.well-known/tem-keys.json",
    }
