"""The pytest plugin of pysoa_like (see :mod:`pysoa_like.test.plugins.pytest.fixtures`)."""
