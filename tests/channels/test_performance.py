"""Rasa's start-up fixes (channels/performance.py) change how fast, never what comes out."""

from __future__ import annotations

import pytest
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.engine.exceptions import GraphRunError
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

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


def test_installing_is_idempotent_and_replaces_the_runner_method():
    performance.install_performance_fixes()
    performance.install_performance_fixes()
    assert DaskGraphRunner.run is performance.run_graph
