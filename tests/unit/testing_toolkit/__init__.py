"""Tests of the test toolkit (pysoa_like.test)."""
