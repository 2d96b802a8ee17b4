"""The send scripts' text: what a push checks and runs, in order (PROTOCOL.md section 3)."""

from __future__ import annotations

from pysoa_like.core.scripts import QUEUE_FULL_ERROR, SEND_MESSAGE_LUA_SCRIPT


def test_send_script_semantics_in_text() -> None:
    """The script checks LLEN against the capacity, replies ``queue full``, then RPUSHes and EXPIREs."""
    script = SEND_MESSAGE_LUA_SCRIPT[SEND_MESSAGE_LUA_SCRIPT.index("local key") :]
    assert QUEUE_FULL_ERROR == "queue full"
    assert script.index("LLEN") < script.index("error_reply('queue full')") < script.index("RPUSH")
    assert script.index("RPUSH") < script.index("EXPIRE")
    assert "KEYS[1]" in script and "ARGV[3]" in script
