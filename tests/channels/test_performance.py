"""Rasa's start-up fixes (channels/performance.py) change how fast, never what comes out."""

from __future__ import annotations

import json

import pytest
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.policies.rule_policy import RULES, RULES_FOR_LOOP_UNHAPPY_PATH, RulePolicy
from rasa.engine.exceptions import GraphRunError
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.slots import Slot
from rasa.shared.core.trackers import DialogueStateTracker

from bench.conversations import CONVERSATIONS
from channels import performance

MESSAGES = [
    "hola buenas", "ocupo sacar el DUI", "i need a job in soyapango", "quiero matarme",
    "english please", "ok", "🙂", "", "/greet", "cuanto cuesta el pasaporte",
    "me pegan en mi casa", "what happens at the airport when I arrive",
]


@pytest.fixture
def runner_method(monkeypatch):
    """Sets how every graph runner runs: the dask way (False) or ours (True)."""

    def use(fast: bool) -> None:
        monkeypatch.setattr(DaskGraphRunner, "run",
                            performance.run_graph if fast else performance._ORIGINAL_RUN)

    return use


@pytest.mark.parametrize("text", MESSAGES)
async def test_language_understanding_is_the_same(agent, runner_method, text):
    tracker = DialogueStateTracker("performance-nlu", agent.domain.slots)
    outputs = []
    for fast in (False, True):
        runner_method(fast)
        outputs.append(await agent.processor.parse_message(UserMessage(text), tracker))
    assert outputs[0] == outputs[1]
    assert outputs[1]["intent"]["name"]


async def test_predictions_along_a_conversation_are_the_same(agent, runner_method):
    sender = "performance-core"
    for text in ["hola", "ocupo el DUI", "gracias", "quiero hablar con una persona", "no"]:
        runner_method(True)
        await agent.handle_message(UserMessage(text, CollectingOutputChannel(), sender))
        tracker = await agent.tracker_store.retrieve(sender)
        predictions = []
        for fast in (False, True):
            runner_method(fast)
            prediction = agent.processor._predict_next_with_tracker(tracker)
            predictions.append((prediction.max_confidence_index, prediction.policy_name,
                                prediction.probabilities))
        assert predictions[0] == predictions[1]
    events = (await agent.tracker_store.retrieve(sender)).events
    assert sum(isinstance(e, UserUttered) for e in events) == 5
    assert any(isinstance(e, ActionExecuted) and e.action_name.startswith("utter_")
               for e in events)


def test_every_target_and_input_of_the_graph_is_planned_after_what_it_needs(agent):
    runner = agent.processor.graph_runner
    nodes = runner._graph_schema.nodes
    for targets, inputs in [
        ((agent.processor.model_metadata.nlu_target,), ("__message__",)),
        ((agent.processor.model_metadata.core_target,), ("__tracker__",)),
        (tuple(runner._graph_schema.target_names), ("__message__", "__tracker__")),
    ]:
        plan = performance.graph_plan(runner, targets, inputs)
        names = [name for name, _ in plan]
        assert len(names) == len(set(names))
        assert set(targets) <= set(names)
        for index, (name, needs) in enumerate(plan):
            assert needs == tuple(nodes[name].needs.values())
            for parent in needs:
                assert parent in inputs or parent in names[:index] or parent not in nodes


def test_an_input_named_like_a_node_is_refused_as_before(agent, runner_method):
    runner = agent.processor.graph_runner
    node = next(iter(runner._graph_schema.nodes))
    for fast in (False, True):
        runner_method(fast)
        with pytest.raises(GraphRunError):
            runner.run(inputs={"__message__": node},
                       targets=[agent.processor.model_metadata.nlu_target])


def test_installing_is_idempotent_and_replaces_the_methods():
    performance.install_performance_fixes()
    performance.install_performance_fixes()
    assert DaskGraphRunner.run is performance.run_graph
    assert RulePolicy._get_possible_keys is performance.possible_rule_keys
    assert DialogueStateTracker.past_states is performance.remembered_past_states
    assert Slot.__copy__ is performance.copy_slot


# --- the rule index: exactly the rules RulePolicy finds ------------------------------------

# Beside the benchmark's conversations: the intake form (an active loop), its interruptions,
# a handoff, a crisis and a language switch.
MORE_CONVERSATIONS = [
    ["quiero registrarme", "si", "si acepto", "soyapango", "ayer", "deportado", "cancelar"],
    ["quiero registrarme", "si", "si", "quiero hablar con una persona", "no"],
    ["me quiero morir", "si", "gracias"],
    ["hello", "en español por favor", "necesito trabajo", "menu", "/ask_documents"],
    ["🙂", "", "asdfgh qwerty", "zzzz", "ok"],
]


@pytest.fixture(scope="module")
def policy(agent):
    nodes = agent.processor.graph_runner._instantiated_nodes.values()
    (found,) = [node._component for node in nodes
                if isinstance(getattr(node, "_component", None), RulePolicy)]
    return found


def _same_keys(policy, states):
    for table in (RULES, RULES_FOR_LOOP_UNHAPPY_PATH):
        lookup = policy.lookup[table]
        assert (performance.possible_rule_keys(policy, lookup, states)
                == performance._ORIGINAL_POSSIBLE_KEYS(policy, lookup, states)), states


def test_every_rule_is_found_from_its_own_states_and_their_tails(policy):
    found_something = 0
    for key in policy.lookup[RULES]:
        states = json.loads(key)
        for start in range(len(states)):
            _same_keys(policy, states[start:])
        found_something += bool(performance.possible_rule_keys(
            policy, policy.lookup[RULES], states))
    # A rule whose states say a slot should not be set does not match its own key's states.
    assert found_something > 0.9 * len(policy.lookup[RULES])


async def test_every_state_of_real_conversations_finds_the_same_rules(agent, policy):
    rule_only_data = policy._get_rule_only_data()
    checked = in_a_form = 0
    for number, conversation in enumerate(CONVERSATIONS + MORE_CONVERSATIONS):
        sender = f"policy-test-{number}"
        for text in conversation:
            await agent.handle_message(UserMessage(text, CollectingOutputChannel(), sender))
        tracker = await agent.tracker_store.retrieve(sender)
        for prefix, _ in tracker.generate_all_prior_trackers():
            for use_text in (False, True):
                states = policy._prediction_states(prefix, agent.domain, use_text,
                                                   rule_only_data=rule_only_data)
                _same_keys(policy, states)
                checked += 1
                in_a_form += bool(states and states[-1].get("active_loop"))
    assert checked > 300 and in_a_form >= 5


def test_a_table_that_lost_keys_is_indexed_again(policy):
    lookup = dict(policy.lookup[RULES])
    key = next(iter(lookup))
    states = json.loads(key)
    assert key in performance.possible_rule_keys(policy, lookup, states)
    lookup.pop(key)  # what RulePolicy does to its table while training
    assert key not in performance.possible_rule_keys(policy, lookup, states)
    _same_keys(policy, states)


# --- remembered past states: Rasa's states, recomputed whenever the tracker changes --------

async def test_past_states_are_rasas_at_every_step_and_copies_can_be_trimmed(agent, policy):
    rule_only_data = policy._get_rule_only_data()
    sender = "performance-states"
    for text in ["hola", "quiero registrarme", "si", "si acepto", "cancelar", "gracias"]:
        await agent.handle_message(UserMessage(text, CollectingOutputChannel(), sender))
        tracker = await agent.tracker_store.retrieve(sender)
        for arguments in ({}, {"rule_only_data": rule_only_data},
                          {"ignore_rule_only_turns": True, "rule_only_data": rule_only_data},
                          {"omit_unset_slots": True}):
            expected = performance._ORIGINAL_PAST_STATES(tracker, agent.domain, **arguments)
            first = performance.remembered_past_states(tracker, agent.domain, **arguments)
            assert first == expected
            first[-1].clear()  # what callers do to the last state (trimming the user turn)
            first.append({})
            assert performance.remembered_past_states(
                tracker, agent.domain, **arguments) == expected
        before = performance.remembered_past_states(tracker, agent.domain)
        tracker.update(ActionExecuted("utter_help"))
        after = performance.remembered_past_states(tracker, agent.domain)
        assert after == performance._ORIGINAL_PAST_STATES(tracker, agent.domain)
        assert len(after) == len(before) + 1


def test_slots_copy_as_the_generic_copy_does(agent):
    import copy

    for slot in agent.domain.slots:
        generic = copy._reconstruct(slot, None, *slot.__reduce_ex__(4))
        ours = performance.copy_slot(slot)
        assert type(ours) is type(slot) and ours is not slot
        assert ours.__dict__ == generic.__dict__ == slot.__dict__
        original = slot.value
        ours.value = "changed"
        assert slot.value == original  # a copy, not the domain's slot
