"""Sphinx configuration for the finance_crm documentation.

Build with ``.venv/bin/sphinx-build -W -q -b html docs docs/_build/html``: warnings are
errors. The package is installed in editable mode, so autodoc imports it without any
``sys.path`` changes. No extension here needs the network (no intersphinx).
"""

from __future__ import annotations

import finance_crm

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
# Signatures keep their annotations as written in the source; the descriptions do not
# repeat them. "description" mode would turn every pendulum/SQLAlchemy annotation into a
# cross-reference that cannot resolve without intersphinx (harmless unless nitpicky, but
# noisy for readers), so type hints stay in the signature only.
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_member_order = "bysource"
autodoc_class_signature = "mixed"
autodoc_preserve_defaults = True
autodoc_default_options = {
    "members": True,
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
