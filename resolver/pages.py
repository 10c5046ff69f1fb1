"""Rendering of the consumer pages (Jinja2, autoescaped)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape

from resolver.i18n import LANGUAGE_NAMES, t
from templates import FOLDER as TEMPLATES  # installed with Tem, so found wherever Tem runs from

# Every page template, the consumer's, the inspector app's and the ministry's, loads through this one.
JINJA = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(template: str, lang: str, path: str, query: list[tuple[str, str]], **context: Any) -> str:
    """`path` and `query` build the language switch links; they are escaped like everything else."""
    kept = [(k, v) for k, v in query if k != "lang"]
    links = {code: f"{path}?{urlencode([*kept, ('lang', code)])}" for code in LANGUAGE_NAMES}
    return JINJA.get_template(template).render(
        lang=lang,
        t=lambda key, **values: t(key, lang, **values),
        languages=list(LANGUAGE_NAMES.items()),
        lang_links=links,
        **context,
    )
