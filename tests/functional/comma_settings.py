"""Server settings made a tuple by a trailing comma, for the tests of what ``serve`` says before it starts."""

from __future__ import annotations

from tests.functional.mistaken_settings import SOA_SERVER_SETTINGS as _SETTINGS

SOA_SERVER_SETTINGS = (_SETTINGS,)  # as `SOA_SERVER_SETTINGS = {...},` makes it
