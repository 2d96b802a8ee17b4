"""Test-runner plugins for services built on pysoa_like."""
