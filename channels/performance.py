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

3. Running the model's graph. For every message Rasa runs its model graph twice or more
(language understanding, then one prediction per action) with `DaskGraphRunner.run`, which
each time works out again which nodes the targets need (walking every path of the graph),
builds a dask graph and hands it to dask's scheduler: about a tenth of the time of a message
(profiled with py-spy under bench/serve.py). The graph does not change once loaded, so the
order of the nodes each set of targets needs is worked out once and the nodes are called in
it, each with its parents' outputs, as dask called them. Inputs, outputs and errors are the
same as before (tests/channels/test_performance.py runs both runners on the trained model).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict, List, Optional, Text, Tuple

from rasa.core.actions.action import RemoteAction
from rasa.engine.exceptions import GraphRunError
from rasa.engine.runner.dask import DaskGraphRunner
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


_ORIGINAL_RUN = DaskGraphRunner.run
# A step of a plan: the node's name and the names of the nodes (or inputs) it needs, in the
# order dask passed their outputs.
Step = Tuple[Text, Tuple[Text, ...]]


def graph_plan(runner: DaskGraphRunner, targets: Tuple[Text, ...],
               input_names: Tuple[Text, ...]) -> List[Step]:
    """The nodes `targets` need, each after the nodes it needs (inputs are given, not run)."""
    nodes = runner._graph_schema.nodes
    plan: List[Step] = []
    placed = set(input_names)

    def place(name: Text, path: Tuple[Text, ...]) -> None:
        if name in placed or name not in nodes:
            return  # an input, already placed, or unknown (passed on by name, as dask does)
        if name in path:
            raise GraphRunError(f"The graph has a cycle through '{name}'.")
        needs = tuple(nodes[name].needs.values())
        for parent in needs:
            place(parent, path + (name,))
        placed.add(name)
        plan.append((name, needs))

    for target in targets:
        place(target, ())
    return plan


def run_graph(self: DaskGraphRunner, inputs: Optional[Dict[Text, Any]] = None,
              targets: Optional[List[Text]] = None) -> Dict[Text, Any]:
    """`DaskGraphRunner.run` without re-planning or dask's scheduler (module docstring)."""
    run_targets = tuple(targets if targets else self._graph_schema.target_names)
    inputs = inputs or {}
    plans = self.__dict__.setdefault("_retorno_plans", {})
    key = (run_targets, tuple(inputs))
    plan = plans.get(key)
    if plan is None:
        plan = plans[key] = graph_plan(self, run_targets, tuple(inputs))
    results: Dict[Text, Any] = {}
    for name, value in inputs.items():
        if isinstance(value, str) and value in self._graph_schema.nodes:
            raise GraphRunError(
                f"Input value '{value}' clashes with a node name. Make sure that none of "
                f"the input names passed to the `run` method are the same as node names "
                f"in the graph schema.")
        results[name] = (name, value)
    try:
        for name, needs in plan:
            results[name] = self._instantiated_nodes[name](
                *(results.get(parent, parent) for parent in needs))
    except RuntimeError as error:
        raise GraphRunError("Error running runner.") from error
    return dict(results[target] for target in run_targets)


def install_performance_fixes() -> None:
    """Installs the three fixes (idempotent). Called when channels start."""
    if not getattr(RemoteAction, _PATCHED, False):
        RemoteAction._validate_action_result = _validate_action_result  # type: ignore
        setattr(RemoteAction, _PATCHED, True)
    if Event.resolve_by_type is not _resolve_event_type:
        Event.resolve_by_type = staticmethod(_resolve_event_type)  # type: ignore
    if DaskGraphRunner.run is not run_graph:
        DaskGraphRunner.run = run_graph  # type: ignore
