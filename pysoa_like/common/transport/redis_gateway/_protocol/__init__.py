"""Private modules of the sans-I/O protocol core; import them through ``redis_gateway.protocol``."""
