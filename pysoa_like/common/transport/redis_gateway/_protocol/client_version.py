"""Reading ``meta["client_version"]``, which decides whether errors carry ``is_caller_error`` (section 6).

The rule lives in :mod:`pysoa_like.common._header_rules`, shared with servers; re-exported here for the core.
"""

from __future__ import annotations

from pysoa_like.common._header_rules import (
    CLIENT_VERSION_META_KEY,
    DEFAULT_CLIENT_VERSION,
    parse_client_version,
    parse_client_version_checked,
)

__all__ = ["CLIENT_VERSION_META_KEY", "DEFAULT_CLIENT_VERSION", "parse_client_version", "parse_client_version_checked"]
