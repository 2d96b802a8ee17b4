"""docs/security.rst states the same least ACL rights as the code (which the functional tests use)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pysoa_like.common.transport.redis_gateway import constants

SECURITY_DOC = Path(__file__).resolve().parents[2] / "docs" / "security.rst"


@pytest.mark.parametrize(
    "name",
    [
        "CLIENT_ACL_RULES",
        "SERVER_ACL_RULES",
        "REGISTRY_ACL_RULES",
        "TRANSACTION_ACL_RULES",
        "WATCHED_CLIENT_ACL_RULES",
        "WATCHED_SERVER_ACL_RULES",
    ],
)
def test_every_acl_rule_of_the_code_is_in_the_security_page(name: str) -> None:
    """Each rule set appears in docs/security.rst exactly as the code (and the tests) use it."""
    text = " ".join(SECURITY_DOC.read_text().split())
    assert getattr(constants, name) in text
