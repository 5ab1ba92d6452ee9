"""Long-form transcription (30-second windows, seek, timestamps) on lj_longform_dev (138 s).

Our segments against faster-whisper's greedy segments: the same count, each start and end within
0.5 s; and the WER of the whole text within 1 point of faster-whisper's. faster-whisper can end
the last segment past the end of the recording (tiny.en: 143.56 s on this 137.78 s clip); we
clamp every time to the recording's duration, so its times are compared clamped the same way.
"""

from __future__ import annotations

import pytest

import amanuensis_cli
import fw_reference
import manifest as manifest_mod
import report
from manifest import model_params
from wer import wer

TIME_TOLERANCE = 0.5
WER_MARGIN_POINTS = 1.0


# base is opt-in (`slow`, CI leaves it out for time); tiny.en runs everywhere.
@pytest.fixture(scope="module", params=model_params(slow=("base",)))
def long_clip_run(request, amanuensis, model_dirs, manifest, cache_dir):
    model = request.param
    clip = manifest_mod.by_id(manifest, manifest_mod.LONG_CLIP_ID)
    fw = fw_reference.greedy_reference(model_dirs[model], [clip.path], cache_dir)
    (ours,), cli = amanuensis_cli.transcribe_json(amanuensis, model_dirs[model], [clip.path])
    theirs = fw["clips"][clip.path.name]
    return model, clip, ours, theirs, cli


def _segment_table(ours: list[dict], theirs: list[dict]) -> str:
    rows = []
    for i in range(max(len(ours), len(theirs))):
        o = ours[i] if i < len(ours) else None
        t = theirs[i] if i < len(theirs) else None
        fmt = (lambda s: f"{s['start']:7.2f} {s['end']:7.2f} {s['text'].strip()[:60]}")
        rows.append(f"  {i + 1:3d} ours {fmt(o) if o else '-':80s} | fw {fmt(t) if t else '-'}")
    return "\n".join(rows)


def test_segments_match_faster_whisper(long_clip_run):
    model, clip, ours, theirs, _ = long_clip_run
    our_segments = ours["segments"]
    fw_segments = [dict(s, start=min(s["start"], clip.seconds), end=min(s["end"], clip.seconds))
                   for s in theirs["segments"]]
    assert all(s["end"] <= clip.seconds + 0.01 for s in our_segments), (
        f"{model}: a segment ends after the recording ({clip.seconds:.2f} s)")
    table = _segment_table(our_segments, fw_segments)
    print(f"\n== {model}: {clip.id} segments ==\n{table}")
    assert len(our_segments) == len(fw_segments), (
        f"{model}: {len(our_segments)} segments, faster-whisper has {len(fw_segments)}\n{table}")
    bad = [i + 1 for i, (o, t) in enumerate(zip(our_segments, fw_segments))
           if abs(o["start"] - t["start"]) > TIME_TOLERANCE
           or abs(o["end"] - t["end"]) > TIME_TOLERANCE]
    assert not bad, (f"{model}: segments {bad} differ from faster-whisper's by more than "
                     f"{TIME_TOLERANCE} s in start or end\n{table}")


def test_wer_close_to_faster_whisper(long_clip_run):
    model, clip, ours, theirs, cli = long_clip_run
    wer_ours = 100 * wer(clip.reference, ours["text"])
    wer_fw = 100 * wer(clip.reference, theirs["text"])
    summary = (f"{model}: {clip.id} WER ours {wer_ours:.2f}% vs fw {wer_fw:.2f}%, "
               f"{len(ours['segments'])} vs {len(theirs['segments'])} segments, "
               f"wall ours {cli.wall_seconds:.1f}s vs fw {theirs['wall_seconds']:.1f}s "
               f"(+ load) for {clip.seconds:.0f}s of audio")
    print(summary)
    report.SUMMARY_LINES.append(summary)
    assert wer_ours <= wer_fw + WER_MARGIN_POINTS, (
        f"{model}: WER {wer_ours:.2f}% > faster-whisper's {wer_fw:.2f}% + {WER_MARGIN_POINTS}\n"
        f"ours: {ours['text'].strip()}\nfw:   {theirs['text'].strip()}")
