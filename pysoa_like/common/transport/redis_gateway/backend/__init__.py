"""Redis connection strategies of the Redis Gateway transport: a ring of masters, or Sentinel-managed ones."""
