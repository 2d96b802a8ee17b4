"""Logging helpers: a request-context filter, censoring of sensitive fields and a syslog handler.

* :class:`PySOALogContextFilter` puts ``correlation_id``, ``request_id``, ``service_name`` and
  ``action_name`` on every record. The request's context and the running action's name are two context
  variables (:data:`REQUEST_LOG_CONTEXT`, :data:`RUNNING_ACTION_NAME`), which the server sets around each
  request and each action and then resets with the token the set gave, so a service calling another
  service in-process (local transport) restores the outer values when the inner call ends, and threads
  and asyncio tasks never see each other's values.
* :class:`RecursivelyCensoredDictWrapper` wraps a dict for logging and masks sensitive values the
  first time it is formatted, so a disabled log level costs nothing.
* :class:`SyslogHandler` is a syslog handler whose datagrams fit the path MTU to the syslog host
  (long records are truncated or split into complete fragments).
"""

from __future__ import annotations

import contextvars
import logging
import logging.handlers
import re
import sys
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from pysoa_like.common._syslog import SyslogHandler

__all__ = [
    "REQUEST_LOG_CONTEXT",
    "RUNNING_ACTION_NAME",
    "CachedTimeFormatter",
    "PySOALogContextFilter",
    "RecursivelyCensoredDictWrapper",
    "SyslogHandler",
    "censored",
    "request_context_ids",
]

#: The logging context of the request being handled in this thread or task (``request_id``, ``correlation_id``,
#: ...), or ``None`` outside a request. Set it around a request (``token = REQUEST_LOG_CONTEXT.set(context)``,
#: then ``REQUEST_LOG_CONTEXT.reset(token)``), as the server does; the outer request's context is back after.
REQUEST_LOG_CONTEXT: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "pysoa_like_logging_request_context", default=None
)
#: The name of the action running in this thread or task, or ``None``; set and reset around an action likewise.
RUNNING_ACTION_NAME: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "pysoa_like_logging_action_name", default=None
)

_EMPTY: tuple[Any, ...] = ()
# The values PySOALogContextFilter's set_ methods replaced, innermost last, for their clear_ twins to restore (PySOA's
# API has no token).
_replaced_contexts: contextvars.ContextVar[tuple[Mapping[str, Any] | None, ...]] = contextvars.ContextVar(
    "pysoa_like_logging_replaced_contexts", default=_EMPTY
)
_replaced_names: contextvars.ContextVar[tuple[str | None, ...]] = contextvars.ContextVar(
    "pysoa_like_logging_replaced_names", default=_EMPTY
)


def request_context_ids() -> tuple[Any, Any]:
    """``(correlation_id, request_id)`` of the innermost request context, as the filter sets them.

    Outside a request (or with no value in it) each is ``'--'``, as in PySOA.
    """
    context = REQUEST_LOG_CONTEXT.get()
    if context is not None:
        return context.get("correlation_id") or "--", context.get("request_id") or "--"
    return "--", "--"


class PySOALogContextFilter(logging.Filter):
    """Adds ``correlation_id``, ``request_id``, ``service_name`` and ``action_name`` to each record.

    Missing values become ``'--'`` (correlation and request ids), ``'unknown'`` (service
    name) and ``'(n/a)'`` (action name), so format strings can always use all four. The filter never
    drops a record.
    """

    _service_name: ClassVar[str | None] = None

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id, record.request_id = request_context_ids()
        record.service_name = PySOALogContextFilter._service_name or "unknown"
        name = RUNNING_ACTION_NAME.get()
        record.action_name = "(n/a)" if name is None else name
        return True

    @staticmethod
    def set_logging_request_context(**context: Any) -> None:
        """Push a request context (``request_id``, ``correlation_id``, ...) for the current thread or task."""
        _replaced_contexts.set((*_replaced_contexts.get(), REQUEST_LOG_CONTEXT.get()))
        REQUEST_LOG_CONTEXT.set(context)

    @staticmethod
    def clear_logging_request_context() -> None:
        """Pop the innermost request context pushed by :meth:`set_logging_request_context`."""
        replaced = _replaced_contexts.get()
        _replaced_contexts.set(replaced[:-1])
        REQUEST_LOG_CONTEXT.set(replaced[-1] if replaced else None)

    @staticmethod
    def get_logging_request_context() -> Mapping[str, Any] | None:
        """The innermost request context, or ``None`` outside a request."""
        return REQUEST_LOG_CONTEXT.get()

    @staticmethod
    def set_logging_action_name(action_name: str) -> None:
        """Push the name of the action now running."""
        _replaced_names.set((*_replaced_names.get(), RUNNING_ACTION_NAME.get()))
        RUNNING_ACTION_NAME.set(action_name)

    @staticmethod
    def clear_logging_action_name() -> None:
        """Pop the innermost action name pushed by :meth:`set_logging_action_name`."""
        replaced = _replaced_names.get()
        _replaced_names.set(replaced[:-1])
        RUNNING_ACTION_NAME.set(replaced[-1] if replaced else None)

    @staticmethod
    def get_logging_action_name() -> str | None:
        """The innermost action name, or ``None`` outside an action."""
        return RUNNING_ACTION_NAME.get()

    @classmethod
    def set_service_name(cls, service_name: str | None) -> None:
        """Set the process-wide service name shown on every record."""
        PySOALogContextFilter._service_name = service_name

    @classmethod
    def get_service_name(cls) -> str | None:
        """The process-wide service name, or ``None`` if it was never set."""
        return PySOALogContextFilter._service_name


class CachedTimeFormatter(logging.Formatter):
    """A :class:`logging.Formatter` that formats the default time stamp once per second.

    The text is exactly the standard formatter's (``%(asctime)s`` as ``2026-11-21 07:31:00,123``);
    only the ``strftime`` of the whole seconds is reused while they do not change. With a
    ``datefmt`` or a replaced ``converter`` it behaves exactly like its base class. The default
    server logging configuration uses it.
    """

    _second_text: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None or self.converter is not time.localtime or not self.default_msec_format:
            return super().formatTime(record, datefmt)
        return self.local_time_stamp(int(record.created), record.msecs)

    def local_time_stamp(self, second: int, msecs: float) -> str:
        """The default ``asctime`` text of a time: local ``second`` (since the epoch) and ``msecs``.

        Only valid for the default time formats and the ``time.localtime`` converter (what
        :meth:`formatTime` checks before calling it).
        """
        cached = self._second_text
        if cached[0] == second:
            text = cached[1]
        else:
            text = time.strftime(self.default_time_format, time.localtime(second))
            self._second_text = (second, text)
        msec_format = self.default_msec_format
        return msec_format % (text, msecs) if msec_format else text


# A lower-case letter or digit followed by an upper-case letter: a camelCase word boundary.
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _normalize_key(key: str) -> str:
    """``key`` in lower snake case: ``"creditCardNumber"``, ``"Credit-Card-Number"`` -> ``"credit_card_number"``."""
    return _CAMEL_BOUNDARY.sub("_", key).lower().replace("-", "_")


def _is_sensitive_name(name: str, fields: frozenset[str]) -> bool:
    """Whether a normalised key, or the singular of a plural one (``passwords``, ``card_securities``), is listed."""
    if name in fields:
        return True
    if name.endswith("s"):
        return name[:-1] in fields or (name.endswith("ies") and name[:-3] + "y" in fields)
    return False


# Keys whose values are masked in logs (PySOA's list and more). Matching ignores case, treats "-" and
# camelCase boundaries like "_" ("Auth-Token", "authToken" and "auth_token" are all "auth_token"), and
# covers plurals ("passwords", "credit_card_numbers", "card_securities").
_SENSITIVE_WORDS = """
    password passwd pass pass_word new_password old_password current_password confirm_password
    password_confirmation passphrase pass_phrase pwd pin pin_code pincode pin_number
    personal_id_number personal_identification_number
    secret secret_key client_secret api_secret app_secret shared_secret private private_key privatekey
    secret_access_key aws_secret_access_key signing_key encryption_key
    token auth_token access_token refresh_token id_token session_token api_token bearer_token
    authorization_token authentication_token
    csrf_token csrftoken xsrf_token oauth_token oauth_token_secret jwt otp one_time_password
    auth authorization authentication auth_code authorization_code api_key apikey app_key
    credential credentials session_id sessionid cookie set_cookie
    credit_card creditcard credit_card_number card_number cardnumber cc_number ccnumber card_num ccn
    cvv cvv2 icvv cvc cvc2 cvd cve cvn cvn2 csc csn cid security_code
    card_id card_identification card_identification_code card_identification_number card_identification_value
    card_security card_security_code card_security_number card_security_value
    card_validation card_validation_code card_validation_number card_validation_value
    card_verification card_verification_code card_verification_number card_verification_value
    expiration_date expiry_date card_expiry exp_date exp_month exp_year
    account_number accountnumber bank_account bank_account_number routing_number iban bic swift_code
    social_security_number ssn sin tax_id taxpayer_id national_id passport_number drivers_license
"""

SENSITIVE_FIELDS: frozenset[str] = frozenset(_normalize_key(w) for w in _SENSITIVE_WORDS.split())

_MASK = "**********"

# Values that are never containers and whose repr a censoring pass never changes unless they sit
# under a sensitive key (exact types only: subclasses take the general path).
_SCALAR_TYPES = frozenset({str, int, float, bool, type(None), bytes})
# Of those, the ones masked under a sensitive key when non-empty (bool is an int but is never masked).
_MASKABLE_TYPES = frozenset({str, int, bytes})
# The cache of keys known not to be sensitive is dropped when it grows past this many keys, so
# bodies keyed by ever-new strings (ids, hashes) cannot grow it without bound.
_SAFE_KEYS_LIMIT = 4096


def _needs_censoring(
    value: Any, sensitive: bool, fields: frozenset[str], safe_keys: set[str], long: int = sys.maxsize
) -> bool:
    """Whether censoring ``value`` could give a different ``repr`` than ``value`` itself.

    ``False`` only for exact dicts, lists and tuples of scalars in which no maskable value sits
    under a sensitive key and no string or bytes value is longer than ``long``; anything else (other
    containers, mapping subclasses, custom objects) answers ``True`` and goes through the general,
    copying path. ``safe_keys`` remembers the string keys already found not to be sensitive, so
    each is normalised only once.
    """
    value_type = type(value)
    if value_type is dict:
        for key, item in value.items():
            if sensitive or key in safe_keys:
                key_sensitive = sensitive
            else:
                key_sensitive = isinstance(key, str) and _is_sensitive_name(_normalize_key(key), fields)
                if not key_sensitive and type(key) is str:
                    if len(safe_keys) >= _SAFE_KEYS_LIMIT:
                        safe_keys.clear()
                    safe_keys.add(key)
            item_type = type(item)
            if item_type in _SCALAR_TYPES:
                if key_sensitive and item and item_type in _MASKABLE_TYPES:
                    return True
                if (item_type is str or item_type is bytes) and len(item) > long:
                    return True
            elif _needs_censoring(item, key_sensitive, fields, safe_keys, long):
                return True
        return False
    if value_type is list or value_type is tuple:
        for item in value:
            item_type = type(item)
            if item_type in _SCALAR_TYPES:
                if sensitive and item and item_type in _MASKABLE_TYPES:
                    return True
                if (item_type is str or item_type is bytes) and len(item) > long:
                    return True
            elif _needs_censoring(item, sensitive, fields, safe_keys, long):
                return True
        return False
    if value_type in _SCALAR_TYPES:
        if (value_type is str or value_type is bytes) and len(value) > long:
            return True
        return sensitive and bool(value) and value_type in _MASKABLE_TYPES
    return True


# A string or bytes value longer than this (or than the whole limit, if smaller) is shortened in a
# length-limited log message.
_LONG_VALUE_CHARACTERS = 4096


class _Shortened:
    """Stands for a long string or bytes value in a log message: its start, then how much was left out."""

    __slots__ = ("_keep", "_value")

    def __init__(self, value: str | bytes, keep: int) -> None:
        self._value = value
        self._keep = keep

    def __repr__(self) -> str:
        value = self._value
        unit = "characters" if isinstance(value, str) else "bytes"
        return f"{value[: self._keep]!r}...<{len(value) - self._keep} more {unit}>"


def _shorten_values(value: Any, keep: int) -> Any:
    """A copy of a censored value with every str or bytes longer than ``keep`` shortened."""
    if isinstance(value, Mapping):
        return {key: _shorten_values(item, keep) for key, item in value.items()}
    if isinstance(value, list | tuple):
        items = [_shorten_values(item, keep) for item in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, set | frozenset):
        return type(value)(_shorten_values(item, keep) for item in value)
    if isinstance(value, str | bytes) and len(value) > keep:
        return _Shortened(value, keep)
    return value


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...<{len(text) - limit} more characters>"


class RecursivelyCensoredDictWrapper:
    """Wraps a dict so that formatting it masks the values of sensitive keys, at any depth.

    Masking happens lazily on the first ``str``/``repr`` and is cached; the wrapped dict itself is
    never changed. Non-empty string and integer values (not booleans) under a sensitive key are
    replaced by ``'**********'``; containers under a sensitive key are masked element by element.
    Subclass and extend ``SENSITIVE_FIELDS`` to censor more keys, or change ``CENSORED_STRING`` and
    ``CENSOR_TYPES`` (as with PySOA) to change what a masked value looks like and which values are masked.

    Most logged messages hold nothing to mask: those are recognised by a walk that copies nothing,
    and formatted directly; only the others are copied and masked.

    Args:
        wrapped_dict: The dict to format.

    Raises:
        ValueError: If ``wrapped_dict`` is not a mapping.
    """

    SENSITIVE_FIELDS: ClassVar[frozenset[str]] = SENSITIVE_FIELDS
    #: What a masked value is replaced with.
    CENSORED_STRING: ClassVar[str] = _MASK
    #: The types whose non-empty values are masked under a sensitive key (``bool`` never is, although it is an
    #: ``int``). PySOA 1.4.9 masked ``str`` and ``int`` only; ``bytes`` are masked too here. A subclass with other
    #: types is honoured: its messages all take the copying path.
    CENSOR_TYPES: ClassVar[tuple[type[Any], ...]] = (str, bytes, int)
    #: The most characters of a formatted message (``None``: no limit). Above it, string and bytes
    #: values longer than 4,096 characters (or the limit, if smaller) are shortened to that many,
    #: then the text is cut at the limit; each cut ends with ``...<N more characters>`` (or bytes).
    #: Long values are recognised without formatting them, so a huge message costs little to log.
    MAX_LENGTH: ClassVar[int | None] = None
    # Per class (looked up in the class's own __dict__): see _safe_keys_cache.
    _safe_keys: ClassVar[tuple[frozenset[str], Any, Any, set[str] | None, tuple[type[Any], ...]] | None] = None

    __slots__ = ("_censored", "_wrapped")

    def __init__(self, wrapped_dict: Mapping[Any, Any]) -> None:
        if type(wrapped_dict) is not dict and not isinstance(wrapped_dict, Mapping):
            raise ValueError(f"wrapped_dict must be a mapping, got {type(wrapped_dict).__name__}")
        self._wrapped = wrapped_dict
        self._censored: str | None = None

    @classmethod
    def with_extra_fields(cls, extra_fields: Any) -> type[RecursivelyCensoredDictWrapper]:
        """A subclass that also censors ``extra_fields`` (returns ``cls`` itself if there are none)."""
        extra = frozenset(_normalize_key(str(f)) for f in extra_fields or ())
        if not extra - cls.SENSITIVE_FIELDS:
            return cls
        return type(cls.__name__, (cls,), {"SENSITIVE_FIELDS": cls.SENSITIVE_FIELDS | extra, "__slots__": ()})

    @classmethod
    def limited_to(cls, max_length: int | None) -> type[RecursivelyCensoredDictWrapper]:
        """A subclass whose messages are at most ``max_length`` characters (``cls`` if it already is).

        Raises:
            ValueError: If ``max_length`` is not ``None`` or a positive integer.
        """
        if max_length is not None and (type(max_length) is not int or max_length < 1):
            raise ValueError(f"max_length must be None or a positive integer, got {max_length!r}")
        if max_length == cls.MAX_LENGTH:
            return cls
        return type(cls.__name__, (cls,), {"MAX_LENGTH": max_length, "__slots__": ()})

    @classmethod
    def _safe_keys_cache(cls) -> tuple[frozenset[str], Any, Any, set[str] | None, tuple[type[Any], ...]]:
        """``(SENSITIVE_FIELDS, _censor, _is_sensitive, keys known not to be sensitive, CENSOR_TYPES)``.

        Made on first use and kept on the class itself (not inherited); remade whenever one of
        ``SENSITIVE_FIELDS``, ``_censor``, ``_is_sensitive`` or ``CENSOR_TYPES`` is replaced. The set is
        ``None`` when the walk that copies nothing does not apply: a class whose ``_censor``,
        ``_is_sensitive`` or ``CENSOR_TYPES`` is not the stock one always takes the general path.
        """
        censor, is_sensitive, censor_types = cls._censor, cls._is_sensitive, cls.CENSOR_TYPES
        stock = censor is _STOCK_CENSOR and is_sensitive is _STOCK_IS_SENSITIVE and censor_types is _STOCK_CENSOR_TYPES
        cache = (cls.SENSITIVE_FIELDS, censor, is_sensitive, set[str]() if stock else None, censor_types)
        cls._safe_keys = cache
        return cache

    def _is_sensitive(self, key: Any) -> bool:
        return isinstance(key, str) and _is_sensitive_name(_normalize_key(key), self.SENSITIVE_FIELDS)

    def _censor(self, value: Any, sensitive: bool) -> Any:
        if isinstance(value, Mapping):
            return {k: self._censor(v, sensitive or self._is_sensitive(k)) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            items = [self._censor(v, sensitive) for v in value]
            return type(value)(items) if not isinstance(value, list) else items
        if sensitive and not isinstance(value, bool) and isinstance(value, self.CENSOR_TYPES) and value:
            return self.CENSORED_STRING
        return value

    def _formatted(self) -> str:
        censored = self._censored
        if censored is None:
            wrapped = self._wrapped
            cls = type(self)
            cache = cls.__dict__.get("_safe_keys")
            if (
                cache is None
                or cache[0] is not cls.SENSITIVE_FIELDS
                or cache[1] is not cls._censor
                or cache[2] is not cls._is_sensitive
                or cache[4] is not cls.CENSOR_TYPES
            ):
                cache = cls._safe_keys_cache()
            safe_keys = cache[3]
            limit = cls.MAX_LENGTH
            keep = sys.maxsize if limit is None else min(limit, _LONG_VALUE_CHARACTERS)
            if safe_keys is not None and not _needs_censoring(wrapped, False, cache[0], safe_keys, keep):
                censored = repr(wrapped)
            elif limit is None:
                censored = repr(self._censor(wrapped, False))
            else:
                censored = repr(_shorten_values(self._censor(wrapped, False), keep))
            if limit is not None:
                censored = _cut(censored, limit)
            self._censored = censored
        return censored

    def __repr__(self) -> str:
        return self._formatted()

    def __str__(self) -> str:
        return self._formatted()

    def __bytes__(self) -> bytes:
        return self._formatted().encode("utf-8")


_STOCK_CENSOR = RecursivelyCensoredDictWrapper._censor
_STOCK_CENSOR_TYPES = RecursivelyCensoredDictWrapper.CENSOR_TYPES


def censored(value: Any, extra_fields: Any = None) -> Any:
    """A copy of ``value`` masked as the request logs mask it (the value itself is never changed).

    Args:
        value: A mapping, list, tuple, set or scalar.
        extra_fields: More key names to censor (as the ``extra_fields_to_redact`` server setting).

    Returns:
        The value with every non-empty string, bytes or integer under a sensitive key replaced by
        ``'**********'``, at any depth.
    """
    wrapper_class = RecursivelyCensoredDictWrapper.with_extra_fields(extra_fields)
    return wrapper_class({})._censor(value, False)


_STOCK_IS_SENSITIVE = RecursivelyCensoredDictWrapper._is_sensitive
