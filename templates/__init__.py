"""Tem's templates, installed with it: the Jinja2 pages and the label layouts.

`pages/` (consumers), `inspect/` (the inspector app) and `ministry/` are Jinja2 pages; `labels/` holds the
label templates (`*.toml`) and their artwork. This is a package only so that the files ship as package data
and are found beside this file wherever Tem is installed and whatever the working directory. It holds no
code and imports nothing of Tem.
"""

from __future__ import annotations

from pathlib import Path

#: The folder of the Jinja2 pages (names are relative to it: "pages/trace.html").
FOLDER = Path(__file__).resolve().parent
#: The shipped label templates; TEM_LABEL_TEMPLATES names another folder instead.
LABELS = FOLDER / "labels"
