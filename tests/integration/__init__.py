"""Integration tests against real Redis processes."""
