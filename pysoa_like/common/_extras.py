"""The one wording of "install this extra" for the errors of optional features.

pysoa_like is installed from its checkout or from a wheel built from it (README, "Installing"), never by its name
from PyPI, where it is not published: ``pip install 'pysoa_like[web]'`` would find nothing there, or a package
someone else registered under the name. Every message about a missing optional dependency says so the same way.
"""

from __future__ import annotations

__all__ = ["install_extra"]


def install_extra(extra: str) -> str:
    """The command that installs pysoa_like with ``extra``, and where from, for an error message."""
    return f"pip install '/path/to/pysoa_like[{extra}]' (its checkout or wheel: pysoa_like is not on PyPI)"
