"""Sphinx configuration for the pysoa_like documentation."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

from pysoa_like.version import __version__  # noqa: E402

project = "pysoa_like"
author = "pysoa_like developers"
copyright = "2026, pysoa_like developers"
release = __version__
version = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# Type hints name classes from optional extras and private helpers; do not warn about them.
nitpicky = False
suppress_warnings = ["autodoc.import_object"]
html_theme = "alabaster"
html_static_path = ["_static"]
exclude_patterns = ["_build"]
