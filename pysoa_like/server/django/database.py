"""Database connection hygiene for Django-backed servers.

A worker lives for hours and handles one request at a time, so Django's own per-HTTP-request
signals never fire. Before and after each request (and when idle) the server resets the query log
and closes connections that are broken or past ``CONN_MAX_AGE``, the way Django does around an HTTP
request. Connections inside a transaction (not in autocommit) are left alone, and database errors
while closing are ignored: the next query reconnects.
"""

from __future__ import annotations

__all__ = ["django_close_old_database_connections", "django_reset_database_queries"]


def django_reset_database_queries() -> None:
    """Empty the ``connection.queries`` log of every database (it grows forever with ``DEBUG``)."""
    from django.db import reset_queries

    reset_queries()


def django_close_old_database_connections() -> None:
    """Close each autocommit connection that is unusable or older than its ``CONN_MAX_AGE``."""
    from django.db import DatabaseError, connections

    for connection in connections.all(initialized_only=True):
        try:
            if connection.get_autocommit():
                connection.close_if_unusable_or_obsolete()
        except DatabaseError:
            pass
