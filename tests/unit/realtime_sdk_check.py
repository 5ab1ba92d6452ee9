"""Every server event a realtime session sends, validated against the openai SDK's own types.

Runs realtime_tests (its server-event and session tests) with $AMANUENSIS_REALTIME_DUMP set, so
that they write each event they make or receive, one JSON object a line; then validates each with
pydantic against openai.types.realtime.RealtimeServerEvent (GA) or, for
transcription_session.updated, the beta TranscriptionSessionUpdatedEvent. session.created's and
session.updated's session must be the transcription session type.

    realtime_sdk_check.py path/to/realtime_tests
"""
import json
import os
import subprocess
import sys
import tempfile

from pydantic import TypeAdapter
from openai.types.realtime import RealtimeServerEvent
from openai.types.realtime.realtime_transcription_session_create_request import (
    RealtimeTranscriptionSessionCreateRequest,
)
from openai.types.beta.realtime.transcription_session_updated_event import (
    TranscriptionSessionUpdatedEvent,
)


def main() -> int:
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        dump = os.path.join(tmp, "events.jsonl")
        env = dict(os.environ, AMANUENSIS_REALTIME_DUMP=dump)
        subprocess.run([binary, "--gtest_filter=RealtimeServerEventsTest.*:RealtimeSessionTest.*"],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        with open(dump, encoding="utf-8") as f:
            events = [json.loads(line) for line in f if line.strip()]
    adapter = TypeAdapter(RealtimeServerEvent)
    seen = set()
    for event in events:
        kind = event["type"]
        seen.add(kind)
        if kind == "transcription_session.updated":
            TranscriptionSessionUpdatedEvent.model_validate(event, strict=False)
            continue
        parsed = adapter.validate_python(event)
        if kind in ("session.created", "session.updated"):
            assert isinstance(parsed.session, RealtimeTranscriptionSessionCreateRequest), event
    expected = {
        "session.created", "session.updated", "transcription_session.updated",
        "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed", "input_audio_buffer.cleared",
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.completed",
        "conversation.item.input_audio_transcription.failed", "error",
    }
    missing = expected - seen
    assert not missing, f"never checked: {sorted(missing)}"
    print(f"{len(events)} events of {len(seen)} types valid against openai {__import__('openai').__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
