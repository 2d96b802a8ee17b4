"""Helpers for testing services and the code that calls them.

* :mod:`pysoa_like.test.stub_service`: ``StubClient``, ``StubClientTransport``, ``StubServer`` and
  ``stub_action`` (fake one action of one service on every client).
* :mod:`pysoa_like.test.server`: ``PyTestServerTestCase`` (``ServerTestCase``),
  ``UnitTestServerTestCase`` and their ``assertActionRunsWith*`` helpers.
* :mod:`pysoa_like.test.assertions`: pytest context managers such as ``raises_error_codes``.
* :mod:`pysoa_like.test.plugins.pytest.fixtures`: the pytest plugin (``service_client``,
  ``action_stubber``, throwaway Redis fixtures), registered automatically by entry point.
* :mod:`pysoa_like.test.redis`: throwaway ``redis-server`` processes.
* :mod:`pysoa_like.test.compatibility`: ``mock``.
* :mod:`pysoa_like.test.factories`: factory_boy factories for settings, servers and actions
  (needs the ``factories`` extra).

Nothing is imported here, so importing one helper never pulls in the others.
"""
