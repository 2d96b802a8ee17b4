"""Every Redis key of the fleet features (registry, events, periodic tasks), and which node holds it.

Pure functions: no I/O. Each key carries a Redis Cluster hash tag (the part between ``{`` and ``}``)
so that every command and script of these features touches keys of one slot only:

============================================  ======  ==============================================
Key                                           Type    Holds
============================================  ======  ==============================================
``pysoa:registry:services``                   ZSET    service name -> when its latest instance
                                                      entry expires (a catalog; its own slot)
``pysoa:registry:{<service>}:instances``      ZSET    instance id -> when its entry expires
``pysoa:registry:{<service>}:records``        HASH    instance id -> the instance record (JSON)
``pysoa:registry:{<service>}:errors``         LIST    the service's latest error responses (JSON),
                                                      newest first, for dashboards
``pysoa:registry:{<service>}:actions``        HASH    version -> what ``introspect`` answers (JSON)
``pysoa:events:{<event>}``                    STREAM  the events of one name; consumer groups
                                                      ``pool:<service>`` and ``singleton``
``pysoa:events:{<event>}:dead``               STREAM  events given up after too many deliveries
``pysoa:periodic:{<service>/<task>}``         HASH    the last tick claimed, by whom, when it ran
``pysoa:periodic:{<service>/<task>}:lock``    STRING  the instance running the task now (with a TTL)
============================================  ======  ==============================================

Over a ring of standalone Redis masters (the ``redis.standard`` and ``redis.sentinel`` backends) a key
lives on ring slot ``key_slot(key) % ring_size``: the Cluster slot of its hash tag, so the keys that
share a tag (a service's registry entries, an event's stream and dead-letter stream) share a master,
as they share a slot under Cluster. Service and task names are escaped (``%``, ``{``, ``}`` and ``/``
percent-encoded) so that no name can break a tag or be confused with another.
"""

from __future__ import annotations

import re

from pysoa_like.core.cluster import CLUSTER_SLOTS, hash_tag, key_slot

__all__ = [
    "CLUSTER_SLOTS",
    "REGISTRY_SERVICES_KEY",
    "SINGLETON_GROUP",
    "dead_letter_key",
    "escape_name",
    "event_stream_key",
    "hash_tag",
    "key_slot",
    "periodic_lock_key",
    "periodic_state_key",
    "pool_group",
    "registry_actions_key",
    "registry_errors_key",
    "registry_instances_key",
    "registry_records_key",
    "ring_index",
    "validate_event_name",
]

_PREFIX = "pysoa:"
#: The catalog of every service that ever registered, scored by when its newest entry expires.
REGISTRY_SERVICES_KEY = _PREFIX + "registry:services"
#: The consumer group of singleton handlers: one group for the whole fleet, whatever the service.
SINGLETON_GROUP = "singleton"

# Event names: letters, digits and . _ - : / (dotted names such as "user.created"), at most 200 characters.
_EVENT_NAME = re.compile(r"^[A-Za-z0-9_.:/-]{1,200}$")


def ring_index(key: str, ring_size: int) -> int:
    """The ring slot (master) holding ``key`` when the fleet keys are spread over ``ring_size`` masters."""
    return 0 if ring_size <= 1 else key_slot(key) % ring_size


def escape_name(name: str) -> str:
    """``name`` with ``%``, ``{``, ``}`` and ``/`` percent-encoded, safe in a hash tag (most names are unchanged)."""
    if "%" in name or "{" in name or "}" in name or "/" in name:
        return name.replace("%", "%25").replace("{", "%7B").replace("}", "%7D").replace("/", "%2F")
    return name


def validate_event_name(name: object) -> str:
    """Return ``name`` if it is a valid event name.

    Raises:
        ValueError: ``name`` is not a string of 1 to 200 letters, digits and ``. _ - : /``.
    """
    if not isinstance(name, str) or not _EVENT_NAME.match(name):
        raise ValueError(
            f"Invalid event name {name!r}: use 1 to 200 letters, digits and the characters . _ - : / "
            "(for example 'user.created')"
        )
    return name


def registry_instances_key(service: str) -> str:
    """The ZSET of a service's instance ids, scored by when each entry expires."""
    return f"{_PREFIX}registry:{{{escape_name(service)}}}:instances"


def registry_records_key(service: str) -> str:
    """The HASH of a service's instance records (instance id -> JSON)."""
    return f"{_PREFIX}registry:{{{escape_name(service)}}}:records"


def registry_errors_key(service: str) -> str:
    """The LIST of a service's latest error responses (JSON records, newest first)."""
    return f"{_PREFIX}registry:{{{escape_name(service)}}}:errors"


def registry_actions_key(service: str) -> str:
    """The HASH of what a service's ``introspect`` action answers, per service version (JSON)."""
    return f"{_PREFIX}registry:{{{escape_name(service)}}}:actions"


def event_stream_key(event_name: str) -> str:
    """The stream holding the events named ``event_name``."""
    return f"{_PREFIX}events:{{{event_name}}}"


def dead_letter_key(event_name: str) -> str:
    """The stream of ``event_name`` events given up after too many failed deliveries."""
    return f"{_PREFIX}events:{{{event_name}}}:dead"


def pool_group(service: str) -> str:
    """The consumer group through which one service handles each event once (service pool)."""
    return f"pool:{service}"


def periodic_state_key(service: str, task: str) -> str:
    """The HASH recording the last tick of a periodic task claimed by the fleet."""
    return f"{_PREFIX}periodic:{{{escape_name(service)}/{escape_name(task)}}}"


def periodic_lock_key(service: str, task: str) -> str:
    """The key held (with a TTL) by the instance running a periodic task."""
    return periodic_state_key(service, task) + ":lock"
