"""The Django service's entry point (PySOA's django_main style)."""

from __future__ import annotations

from typing import Any

from pysoa_like.server.standalone import django_main


def get_server() -> Any:
    from tests.functional.django_project.service import DjangoServer

    return DjangoServer


if __name__ == "__main__":
    django_main(get_server)
