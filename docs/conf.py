"""Sphinx configuration for the finance_crm documentation.

Build with ``.venv/bin/sphinx-build -W -q -b html docs docs/_build/html``: warnings are
errors. The package is installed in editable mode, so autodoc imports it without any
``sys.path`` changes. No extension here needs the network (no intersphinx).
"""

from __future__ import annotations

import logging

import finance_crm

# furo's dependency a11y_pygments calls logging.basicConfig(level=INFO) when imported, and
# autodoc imports Alembic (finance_crm.adapters.sql.schema), whose INFO lines would then
# flood the build output. They are not warnings; keep them out of the way.
logging.getLogger("alembic").setLevel(logging.WARNING)

project = "finance_crm"
author = "finance_crm developers"
copyright = "2025, finance_crm developers"
release = finance_crm.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
language = "en"

# -- MyST ---------------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -- autodoc ------------------------------------------------------------------------------
# Type hints go into the parameter descriptions, where they read as prose next to the
# docstring's own :param: text. Annotations that name pendulum, SQLAlchemy or attrs types
# cannot be cross-referenced without intersphinx (no network here); with nitpicky off
# they render as plain text and raise no warning.
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_member_order = "bysource"
autodoc_class_signature = "mixed"
autodoc_preserve_defaults = True
autodoc_default_options = {
    "members": True,
    "undoc-members": True,
    "show-inheritance": True,
}

# -- napoleon -----------------------------------------------------------------------------
# Docstrings are mostly reST field lists (:raises:, :param:); napoleon only adds support
# for the occasional Google-style section and leaves the rest alone.
napoleon_google_docstring = True
napoleon_numpy_docstring = False

nitpicky = False

# -- HTML ---------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"finance_crm {release}"
html_static_path: list[str] = []

# A type hint naming the builtin ``type`` (``type[T]``) is cross-referenced like any name;
# several documented classes have an attribute called ``type`` (an identity document's,
# a relationship's), so Sphinx found many targets and warned that the reference is
# ambiguous. It only ever means the builtin: let ambiguous references render as text.
suppress_warnings = ["ref.python"]
