"""A start-up fix for a measured slowness of Rasa 3.6 with its pinned jsonschema.

Rasa validates every custom action's reply with `jsonschema.validate(result, schema)`, which
first checks the schema itself against the JSON Schema meta-schema. With jsonschema 4.17 that
meta-check costs about 100 ms per call on this machine (bench/serve.py: each message that runs
a custom action took 100 ms longer). The schema is Rasa's own constant, so checking it once is
enough: this builds the same validator once and reuses it. What is validated, and how, does
not change.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict

from rasa.core.actions.action import RemoteAction

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


def cache_action_result_validation() -> None:
    """Installs the cached validator (idempotent). Called when channels start."""
    if not getattr(RemoteAction, _PATCHED, False):
        RemoteAction._validate_action_result = _validate_action_result  # type: ignore
        setattr(RemoteAction, _PATCHED, True)
