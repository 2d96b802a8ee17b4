"""Runner settings module for the report example service."""

from examples.settings import server_settings

SOA_SERVER_SETTINGS = server_settings("report")
