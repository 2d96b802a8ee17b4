"""Tests of the throwaway Redis process helpers in pysoa_like.test.redis."""
