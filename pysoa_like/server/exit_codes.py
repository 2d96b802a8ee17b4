"""The exit statuses of a service process (``pysoa-like serve``, ``simple_main``, ``django_main``).

A supervisor (systemd, Kubernetes, supervisord) reads them to tell a clean stop from a failure:

====  ============================  ==========================================================
Code  Constant                      Meaning
====  ============================  ==========================================================
0     :data:`EXIT_OK`               Stopped cleanly (a signal asked it to)
1     :data:`EXIT_FAILURE`          Crashed, or harakiri stopped a stuck worker (restart it);
                                    under ``--fork``: a worker crashed too often and was given
                                    up, or failed with ``--no-respawn``
2     :data:`EXIT_CONFIGURATION`    Usage or settings mistake found before any worker started
                                    (one message on stderr naming the key), or credentials that
                                    Redis refuses (logged); restarting cannot fix it
3     :data:`EXIT_RELOAD`           Internal to ``--reload``: the child asks the reloader for a
                                    restart
4     :data:`EXIT_GAVE_UP`          Gave up waiting: the required services did not appear in
                                    time (``dependencies.on_timeout`` is ``"exit"``)
99    :data:`EXIT_RUN_BY_PATH`      pysoa_like's own ``standalone.py`` was run by file path (the
                                    double-import trap)
====  ============================  ==========================================================

Under ``--fork`` the supervising parent exits with the first of these a worker ended with while it
was not shutting down (0 if none): a worker that ends with 2 or 4 is not started again, since a
restart cannot help.
"""

from __future__ import annotations

__all__ = [
    "EXIT_CONFIGURATION",
    "EXIT_FAILURE",
    "EXIT_GAVE_UP",
    "EXIT_OK",
    "EXIT_RELOAD",
    "EXIT_RUN_BY_PATH",
    "NOT_RESTARTABLE",
]

#: Stopped cleanly.
EXIT_OK = 0
#: Crashed or stopped by harakiri, or (``--fork``) a worker was given up or failed with ``--no-respawn``.
EXIT_FAILURE = 1
#: A usage or settings mistake, reported before anything started; or credentials the transport's backend refuses.
EXIT_CONFIGURATION = 2
#: The ``--reload`` child asks its parent for a restart.
EXIT_RELOAD = 3
#: The server gave up, since the required services did not appear in time.
EXIT_GAVE_UP = 4
#: pysoa_like's own ``standalone.py`` run by file path.
EXIT_RUN_BY_PATH = 99
#: Worker exit codes the supervisor does not respawn (a restart would end the same way).
NOT_RESTARTABLE = frozenset({EXIT_CONFIGURATION, EXIT_GAVE_UP})
