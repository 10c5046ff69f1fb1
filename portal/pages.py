"""Rendering of the portal's pages (Jinja2, autoescaped, server-side only)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from portal.phrases import LANGUAGE_NAMES, t
from resolver.i18n import format_number
from resolver.pages import JINJA


def render(template: str, lang: str, path: str, csrf: str = "", **context: Any) -> str:
    links = {code: f"{path}?{urlencode([('lang', code)])}" for code in LANGUAGE_NAMES}
    return JINJA.get_template(template).render(
        lang=lang,
        t=lambda key, **values: t(key, lang, **values),
        number=lambda value: format_number(value, lang),
        languages=list(LANGUAGE_NAMES.items()),
        lang_links=links,
        csrf=csrf,
        **context,
    )
