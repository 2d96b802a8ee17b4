"""The sans-I/O core: everything about bytes, keys and protocol state, with no I/O at all.

Its modules take values (bytes, request ids, the current time) and return values; none of them
imports ``redis``, ``socket``, ``select``, ``ssl``, ``asyncio``, ``threading`` or ``time`` (a test
checks it), so the blocking driver and an asyncio one share them unchanged. See
``docs/internals.rst`` for the layer map.
"""
