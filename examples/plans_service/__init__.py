"""An ``events`` service tested with ``.pysoa`` test plans (see ``tests/``)."""
