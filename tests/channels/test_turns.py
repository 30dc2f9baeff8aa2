"""Messages take turns per process, in arrival order; network replies go out afterwards."""

import asyncio

import pytest
from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel, UserMessage

from channels.turns import SLOTS_VARIABLE, DeferredOutput, slots_from_environment, take_turn


class RecordingOutput(OutputChannel):
    """Stands for a connector's output (Twilio, Telegram): records what it sends, when."""

    def __init__(self, log):
        self.log = log
        self.extra = "kept"

    @classmethod
    def name(cls):
        return "recording"

    async def send_text_message(self, recipient_id, text, **kwargs):
        self.log.append(("sent", text))


def rasa_like(log, pause=0.01):
    """An `on_new_message` that replies twice with a wait in between, as Rasa does."""
    async def on_new_message(message):
        log.append(("start", message.text))
        await message.output_channel.send_response(message.sender_id, {"text": "one"})
        await asyncio.sleep(pause)
        await message.output_channel.send_response(message.sender_id, {"text": "two"})
        log.append(("end", message.text))
    return on_new_message


async def test_messages_take_turns_in_arrival_order():
    log = []
    handler = rasa_like(log)
    await asyncio.gather(*(take_turn(handler, UserMessage(t, CollectingOutputChannel(), "s"))
                           for t in ("a", "b", "c")))
    assert log == [("start", "a"), ("end", "a"), ("start", "b"), ("end", "b"),
                   ("start", "c"), ("end", "c")]


async def test_more_slots_let_messages_overlap(monkeypatch):
    monkeypatch.setenv(SLOTS_VARIABLE, "2")
    log = []
    await asyncio.gather(*(take_turn(rasa_like(log), UserMessage(t, sender_id="s"))
                           for t in ("a", "b")))
    assert log[:2] == [("start", "a"), ("start", "b")]


async def test_network_replies_are_sent_after_the_turn_in_order():
    log = []
    output = RecordingOutput(log)
    await take_turn(rasa_like(log), UserMessage("a", output, "s"))
    assert log == [("start", "a"), ("end", "a"), ("sent", "one"), ("sent", "two")]


async def test_replies_made_before_a_failure_are_still_sent():
    log = []

    async def failing(message):
        await message.output_channel.send_response("s", {"text": "one"})
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await take_turn(failing, UserMessage("a", RecordingOutput(log), "s"))
    assert log == [("sent", "one")]


async def test_the_guard_runs_inside_the_turn_and_its_message_is_processed():
    log = []

    async def prepare(message):
        log.append(("prepare", message.text))
        return UserMessage("guarded", message.output_channel, message.sender_id)

    await take_turn(rasa_like(log, 0), UserMessage("/raw", CollectingOutputChannel(), "s"),
                    prepare)
    assert log[:2] == [("prepare", "/raw"), ("start", "guarded")]


async def test_a_deferred_output_sends_at_once_after_its_flush_and_keeps_the_rest():
    log = []
    deferred = DeferredOutput(RecordingOutput(log))
    await deferred.send_response("s", {"text": "later"})
    assert log == []
    await deferred.flush()
    await deferred.send_response("s", {"text": "now"})
    assert log == [("sent", "later"), ("sent", "now")]
    assert deferred.name() == "recording" and deferred.extra == "kept"


@pytest.mark.parametrize("value, expected", [("", 1), ("3", 3), ("0", None), ("x", None)])
def test_slots_setting(monkeypatch, value, expected):
    monkeypatch.setenv(SLOTS_VARIABLE, value)
    if expected is None:
        with pytest.raises(ValueError, match=SLOTS_VARIABLE):
            slots_from_environment()
    else:
        assert slots_from_environment() == expected


async def test_a_message_the_guard_kept_is_not_given_to_rasa():
    log = []

    async def held(message):
        return None  # a staff member holds the conversation (channels.guard)

    await take_turn(rasa_like(log), UserMessage("hola", RecordingOutput(log), "s"), held)
    assert log == []
