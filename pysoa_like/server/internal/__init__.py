"""Server internals that PySOA exposed at ``pysoa.server.internal`` (switch helpers)."""
