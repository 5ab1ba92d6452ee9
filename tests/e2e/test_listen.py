"""`amanuensis listen`: live transcription of standard input, run as a real process fed through a
pipe, at real-time pace (as arecord would) and at full speed (a file piped in)."""

from __future__ import annotations

import io
import json
import subprocess
import threading
import time
import wave

import realtime_client as rt
from manifest import by_id
from wer import wer


def listen(amanuensis, model, *args: str) -> subprocess.Popen:
    return subprocess.Popen([str(amanuensis), "listen", "--model", str(model), *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wav_bytes(pcm: bytes, rate: int = 16000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return out.getvalue()


def test_raw_pcm_at_real_time_gives_deltas_then_the_line(amanuensis, tiny_model, vad_model_env,
                                                         manifest):
    clip = by_id(manifest, "jfk")
    proc = listen(amanuensis, tiny_model, "--format", "s16le", "--language", "en", "--json")
    arrivals: list[tuple[float, dict]] = []

    def read():
        for line in proc.stdout:
            arrivals.append((time.monotonic(), json.loads(line)))

    reader = threading.Thread(target=read)
    reader.start()
    audio = rt.pcm16(clip.path, 16000) + rt.silence(1.5, 16000)
    started = time.monotonic()
    for i, chunk in enumerate(rt.chunks(audio, 100, 16000)):
        proc.stdin.write(chunk)
        proc.stdin.flush()
        time.sleep(max(0.0, started + (i + 1) * 0.1 - time.monotonic()))
    proc.stdin.close()
    assert proc.wait(timeout=60) == 0, proc.stderr.read().decode()
    reader.join()

    events = [event for _, event in arrivals]
    completed = [e for e in events if e["type"] == "completed"]
    assert completed, events
    # Words were confirmed while the clip was still being spoken, before its line completed.
    first_delta = next(t for t, e in arrivals if e["type"] == "delta")
    assert first_delta < started + clip.seconds, "no delta arrived while the speech went on"
    text = " ".join(e["transcript"].strip() for e in completed)
    for turn in completed:  # never retracted: each line begins with its turn's deltas
        deltas = "".join(e["delta"] for e in events
                         if e["type"] == "delta" and e["item_id"] == turn["item_id"])
        assert turn["transcript"].startswith(deltas), (deltas, turn["transcript"])
    assert wer(clip.reference, text) < 0.1, text
    types = [e["type"] for e in events]
    assert types.index("speech_started") < types.index("speech_stopped") < types.index("completed")


def test_any_format_piped_at_full_speed_prints_one_line_per_turn(amanuensis, tiny_model,
                                                                  vad_model_env, manifest):
    first, second = by_id(manifest, "LJ001-0001"), by_id(manifest, "LJ001-0003")
    audio = (rt.pcm16(first.path, 16000) + rt.silence(2.0, 16000) + rt.pcm16(second.path, 16000)
             + rt.silence(1.0, 16000))
    result = subprocess.run([str(amanuensis), "listen", "--model", str(tiny_model),
                             "--timestamps"], input=wav_bytes(audio), capture_output=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    lines = result.stdout.decode().strip().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("[00:0"), lines[0]
    assert wer(first.reference, lines[0].split("] ", 1)[1]) < 0.15, lines[0]
    assert wer(second.reference, lines[1].split("] ", 1)[1]) < 0.15, lines[1]


def test_compressed_input_and_no_vad(amanuensis, tiny_model, manifest):
    clip = by_id(manifest, "jfk.mp3")
    result = subprocess.run([str(amanuensis), "listen", "--model", str(tiny_model), "--no-vad"],
                            input=clip.path.read_bytes(), capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    lines = result.stdout.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert wer(clip.reference, lines[0]) < 0.1, lines


def test_unreadable_input_is_a_clear_error(amanuensis, tiny_model):
    result = subprocess.run([str(amanuensis), "listen", "--model", str(tiny_model)],
                            input=b"this is not audio at all" * 100, capture_output=True,
                            timeout=60)
    assert result.returncode == 1
    assert "cannot decode audio from <stdin>" in result.stderr.decode(), result.stderr
    result = subprocess.run([str(amanuensis), "listen", "--model", str(tiny_model),
                             "--format", "flac"], input=b"", capture_output=True, timeout=60)
    assert result.returncode == 2
