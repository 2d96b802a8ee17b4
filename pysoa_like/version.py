"""The package version, also sent as ``meta.client_version`` by clients."""

from __future__ import annotations

__all__ = ["__version__", "__version_info__"]

__version_info__: tuple[int, int, int] = (1, 5, 0)
__version__: str = ".".join(str(part) for part in __version_info__)
