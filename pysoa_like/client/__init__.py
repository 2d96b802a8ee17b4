"""pysoa_like."""
