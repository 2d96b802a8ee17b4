"""Compatibility shims for test code written against PySOA.

``mock`` is :mod:`unittest.mock` (PySOA used the ``mock`` backport when it was installed; on Python
3.10+ the standard library's is the same library, and it is the one whose ``MagicMock``
:class:`~pysoa_like.test.stub_service.stub_action` mocks extend).
"""

from __future__ import annotations

from unittest import mock

__all__ = ["mock"]
