"""Shared test configuration."""

# pytester runs pytest in-process (the test plan plugin's tests use it).
pytest_plugins = ["pytester"]
