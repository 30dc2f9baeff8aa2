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

4. Finding the rules that apply. For every prediction (two or more per message) Rasa's
RulePolicy tests each of its rules (176 here) against the conversation's latest state, one by
one in Python: about a tenth of the time of a message (profiled). A rule can only apply if
its last state asks for the same previous action and the same intent as the conversation
has (or asks for none), so the rules are indexed once by those two values and only the few
in the matching groups are tested, with Rasa's own test. Which rules apply, and so every
prediction, is what RulePolicy found before (tests/channels/test_performance.py compares
both on every rule and on every state of real conversations).

5. A conversation's past states. To predict, RulePolicy turns the whole conversation into
a list of states (replaying every event) twice: once to match the user's text, once to
match the intent. The two differ only in how the last user turn is then trimmed, which
happens on the list afterwards. The states of a tracker are remembered together with its
number of events and its latest event (events are only ever appended), and each caller gets
its own copy of them to trim: the second replay, about a twentieth of a message, goes away.

6. Copying slots. Every new tracker object (several per message) copies each of the
domain's slots with `copy.copy`, which goes the generic way (`__reduce_ex__`, then
rebuilding the object): about a thirtieth of a message. Slots get a `__copy__` doing what
that generic way does for them, a new object of the same class with the same attributes.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Dict, Hashable, List, Optional, Set, Text, Tuple

from rasa.core.actions.action import RemoteAction
from rasa.core.policies.rule_policy import RulePolicy
from rasa.engine.exceptions import GraphRunError
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.shared.core.constants import PREVIOUS_ACTION, SHOULD_NOT_BE_SET, USER
from rasa.shared.core.domain import State
from rasa.shared.core.events import Event
from rasa.shared.core.slots import Slot
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import ACTION_NAME, INTENT
from rasa.shared.utils.common import all_subclasses


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


ANY = object()  # a rule's last state asks for no particular value
Bucket = Tuple[Any, Any]  # (previous action name or ANY, intent or ANY)


def _wanted(sub_state: Optional[Dict[str, Any]], key: str) -> Any:
    """The value a rule's sub-state requires for `key`, or ANY. Only a set value other than
    SHOULD_NOT_BE_SET must equal the conversation's (RulePolicy._does_rule_match_state)."""
    value = (sub_state or {}).get(key)
    if not value or value == SHOULD_NOT_BE_SET or not isinstance(value, str):
        return ANY
    return value


@dataclass
class RuleIndex:
    """The keys of one lookup table grouped by what their last state requires."""

    lookup: Dict[Text, Text]  # kept so that its id is not reused while indexed
    size: int
    starters: Set[Text] = field(default_factory=set)  # last state without previous action
    always: Set[Text] = field(default_factory=set)  # no states at all: applies everywhere
    buckets: Dict[Bucket, Set[Text]] = field(default_factory=lambda: defaultdict(set))

    @classmethod
    def build(cls, lookup: Dict[Text, Text]) -> "RuleIndex":
        index = cls(lookup, len(lookup))
        for key in lookup:
            states = json.loads(key)
            if not states:
                index.always.add(key)
                continue
            last = states[-1]
            previous = last.get(PREVIOUS_ACTION)
            if not previous:
                index.starters.add(key)
                continue
            bucket = (_wanted(previous, ACTION_NAME), _wanted(last.get(USER), INTENT))
            index.buckets[bucket].add(key)
        return index

    def candidates(self, state: State) -> Set[Text]:
        """Every key whose last state can match `state` (a superset of those that do)."""
        previous = state.get(PREVIOUS_ACTION)
        if not previous:
            # Only rules that start a conversation match a conversation's start.
            return self.starters | self.always
        action = previous.get(ACTION_NAME)
        intent = (state.get(USER) or {}).get(INTENT)
        if not isinstance(action, Hashable) or not isinstance(intent, Hashable):
            return set(self.lookup)
        found = set(self.always)
        for bucket in ((action, intent), (action, ANY), (ANY, intent), (ANY, ANY)):
            found |= self.buckets.get(bucket, set())
        return found


_ORIGINAL_POSSIBLE_KEYS = RulePolicy._get_possible_keys


def _rule_index(policy: RulePolicy, lookup: Dict[Text, Text]) -> RuleIndex:
    indexes: Dict[int, RuleIndex] = policy.__dict__.setdefault("_retorno_rule_indexes", {})
    index = indexes.get(id(lookup))
    # Rasa only removes keys from a lookup table in place (while training): a table of
    # another size is indexed again.
    if index is None or index.lookup is not lookup or index.size != len(lookup):
        index = indexes[id(lookup)] = RuleIndex.build(lookup)
    return index


def possible_rule_keys(self: RulePolicy, lookup: Dict[Text, Text], states: List[State]
                       ) -> Set[Text]:
    """`RulePolicy._get_possible_keys`, testing only the indexed candidates (docstring, 4)."""
    if not states:
        return set(lookup.keys())
    last = states[-1]
    possible = {key for key in _rule_index(self, lookup).candidates(last)
                if key in lookup and self._is_rule_applicable(key, 0, last)}
    for turn, state in enumerate(reversed(states[:-1]), start=1):
        possible = {key for key in possible if self._is_rule_applicable(key, turn, state)}
    return possible


_ORIGINAL_PAST_STATES = DialogueStateTracker.past_states
_STATES = "_retorno_past_states"


def _copy_states(states: List[State]) -> List[State]:
    """A copy callers may trim: new state and sub-state dicts (their values are immutable:
    names, tuples, numbers)."""
    return [{kind: dict(sub) if isinstance(sub, dict) else sub for kind, sub in state.items()}
            for state in states]


def remembered_past_states(self: DialogueStateTracker, domain: Any,
                           omit_unset_slots: bool = False,
                           ignore_rule_only_turns: bool = False,
                           rule_only_data: Optional[Dict[Text, Any]] = None) -> List[State]:
    """`DialogueStateTracker.past_states`, computed once per tracker state (docstring, 5)."""
    latest = self.events[-1] if self.events else None
    key = (len(self.events), omit_unset_slots, ignore_rule_only_turns,
           json.dumps(rule_only_data, sort_keys=True, default=str))
    remembered = self.__dict__.get(_STATES)
    if (remembered is not None and remembered[0] == key and remembered[1] is latest
            and remembered[2] is domain):
        return _copy_states(remembered[3])
    states = _ORIGINAL_PAST_STATES(self, domain, omit_unset_slots=omit_unset_slots,
                                   ignore_rule_only_turns=ignore_rule_only_turns,
                                   rule_only_data=rule_only_data)
    self.__dict__[_STATES] = (key, latest, domain, _copy_states(states))
    return states


def copy_slot(self: Slot) -> Slot:
    """`copy.copy(slot)`, as the generic way makes it (docstring, 6)."""
    copied = self.__class__.__new__(self.__class__)
    copied.__dict__.update(self.__dict__)
    return copied


def install_performance_fixes() -> None:
    """Installs the six fixes (idempotent). Called when channels start."""
    if RemoteAction._validate_action_result is not _validate_action_result:
        RemoteAction._validate_action_result = _validate_action_result  # type: ignore
    if Event.resolve_by_type is not _resolve_event_type:
        Event.resolve_by_type = staticmethod(_resolve_event_type)  # type: ignore
    if DaskGraphRunner.run is not run_graph:
        DaskGraphRunner.run = run_graph  # type: ignore
    if RulePolicy._get_possible_keys is not possible_rule_keys:
        RulePolicy._get_possible_keys = possible_rule_keys  # type: ignore
    if DialogueStateTracker.past_states is not remembered_past_states:
        DialogueStateTracker.past_states = remembered_past_states  # type: ignore
    if Slot.__dict__.get("__copy__") is not copy_slot:
        Slot.__copy__ = copy_slot  # type: ignore
