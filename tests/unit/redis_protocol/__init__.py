"""Unit tests of the Redis Gateway sans-I/O protocol core."""
