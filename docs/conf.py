"""Sphinx configuration for the pysoa_like documentation."""

from __future__ import annotations

import os
import re
import sys

sys.path.insert(0, os.path.abspath(".."))

from pysoa_like.version import __version__

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
# Every cross-reference must resolve (`make docs` also passes -n). The build runs offline (no
# intersphinx), so names from the standard library and third-party packages cannot be linked: they
# are listed here, as are the type variables and aliases of signatures, which are shown by name.
nitpicky = True
nitpick_ignore_regex = [
    (
        r"py:.*",
        r"(collections\.abc|concurrent\.futures|contextvars|pathlib|unittest|typing|logging|types|asyncio|socket|ssl|re|"
        r"argparse|datetime|struct)\..*",
    ),
    (r"py:.*", r"(redis|_pytest|pytest|django|pydantic|conformity|prometheus_client|opentelemetry)(\..*)?"),
    # Private helpers named in signatures and base classes (not part of the API).
    (
        r"py:(class|exc)",
        r"ErrorsMismatch|StubOutcome|FixtureLoadError|FixtureSyntaxError|VersionGate|RequestCycleMixin|EventPublisher|"
        r"FleetRuntime|ServicePolicies|"
        r"pysoa_like\.(test\._stub_patching\.StubOutcome|client\.client\.CallOptions|client\.expander\.(CallPath|SendPath)|"
        r"auth\._middleware\.ChainedVerifier|gateway\._caller\.ServiceCaller|common\.transport\.redis_gateway\.backend\.base\.BaseRedisClient)",
    ),
    # Type variables and aliases in signatures.
    (r"py:class", r"(.*\.)?_?[A-Z]\w{0,2}|.*\._[A-Z]\w*"),
    (
        r"py:class",
        r"BatchItem|CallKeywords|ActionRequestArgumentIterable|JobRequestArgument|ServerGetter|ActionCallable|Body|Context|Control|"
        r"(pysoa_like\.server\.internal\.types\.)?RequestSwitchSet",
    ),
]
autodoc_default_options = {"members": True}
html_theme = "alabaster"
html_static_path = ["_static"]
exclude_patterns = ["_build"]


def _resolve_by_unique_suffix(app, env, node, contnode):  # type: ignore[no-untyped-def]
    """Resolve a short Python name (``Error``, ``ActionError``) that names exactly one documented object.

    Docstrings use the short names their module imports; Sphinx looks them up only in the current
    module and class. A name that matches several objects is left unresolved (and reported).
    """
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if not re.fullmatch(r"[\w.~]+", target):
        # Not a name at all: napoleon read prose before a colon ("Returns: The app. Routes: ...") as a type.
        return contnode
    if not target or target.startswith("pysoa_like."):
        return None
    domain = env.get_domain("py")
    suffix = "." + target.lstrip("~.")
    matches = {name for name in domain.objects if name.endswith(suffix)}
    # A class documented under two paths (its home and a re-export) counts once: prefer the public path.
    if len(matches) > 1:
        public = {name for name in matches if "._" not in name}
        matches = public or matches
    if len(matches) > 1:  # documented at a package and in its module: the shortest path is the public one
        shortest = min(len(name) for name in matches)
        matches = {name for name in matches if len(name) == shortest}
    if len(matches) != 1:
        return None
    (name,) = matches
    return domain.resolve_xref(env, node.get("refdoc"), app.builder, node.get("reftype"), name, node, contnode)


def setup(app):  # type: ignore[no-untyped-def]
    app.connect("missing-reference", _resolve_by_unique_suffix)
