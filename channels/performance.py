"""Start-up fixes for two measured slownesses of Rasa 3.6 (bench/serve.py, profiled).

1. Action results.

Rasa validates every custom action's reply with `jsonschema.validate(result, schema)`, which
first checks the schema itself against the JSON Schema meta-schema. With jsonschema 4.17 that
meta-check costs about 100 ms per call on this machine (bench/serve.py: each message that runs
a custom action took 100 ms longer). The schema is Rasa's own constant, so checking it once is
enough: this builds the same validator once and reuses it. What is validated, and how, does
not change.

2. Reading events. Every stored event is turned back into an object by
`Event.resolve_by_type`, which walks the whole class tree of `Event` for each event: about a
fifth of the time of reading a conversation. The classes do not change while the server
runs, so the class found for each type name is remembered; a name not found is looked up
the slow way every time (so a class defined later is still found) and behaves as before.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict, Optional

from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import Event
from rasa.shared.utils.common import all_subclasses

_PATCHED = "_retorno_cached_validator"


@lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema.validators import validator_for

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _validate_action_result(self: RemoteAction, result: Dict[str, Any]) -> bool:
    from jsonschema import ValidationError

    try:
        _validator().validate(result)
        return True
    except ValidationError as error:
        error.message += (
            ". Failed to validate Action server response from API, make sure your response"
            " from the Action endpoint is valid."
        )
        raise error


_EVENT_CLASSES: Dict[str, Any] = {}
_ORIGINAL_RESOLVE = Event.resolve_by_type


def _resolve_event_type(type_name: str, default: Optional[Any] = None) -> Optional[Any]:
    found = _EVENT_CLASSES.get(type_name)
    if found is not None:
        return found
    for cls in all_subclasses(Event):
        if cls.type_name == type_name:
            _EVENT_CLASSES[type_name] = cls
            return cls
    return _ORIGINAL_RESOLVE(type_name, default)


def cache_action_result_validation() -> None:
    """Installs both fixes (idempotent). Called when channels start."""
    if not getattr(RemoteAction, _PATCHED, False):
        RemoteAction._validate_action_result = _validate_action_result  # type: ignore
        setattr(RemoteAction, _PATCHED, True)
    if Event.resolve_by_type is not _resolve_event_type:
        Event.resolve_by_type = staticmethod(_resolve_event_type)  # type: ignore
