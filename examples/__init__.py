"""Example services and client for pysoa_like (used by ``make demo`` and the docs)."""
