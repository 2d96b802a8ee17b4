"""A place where test modules run by pytester record what happened (it outlives their sys.modules snapshot)."""

from __future__ import annotations

calls: list[str] = []
