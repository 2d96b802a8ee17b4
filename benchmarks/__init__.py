"""Side-by-side benchmarks of raw Redis, pysoa_like and PySOA 1.4.9 (run with ``python -m benchmarks.run``).

``_cpu``, ``_stats``, ``_driver`` and ``_pysoa`` use only the standard library at import time, so the
PySOA side runs them with the interop venv's interpreter, which does not have pysoa_like installed.
"""
