"""Transcripts of the English dev subset, ours against faster-whisper's greedy reference.

For each model (tiny.en, base) our CLI runs once over every clip of the dev subset (English rows
except lj_longform_dev and the jfk re-encodings; jfk.wav and jfk.mp3 stay), with
--language en --output-format json --threads 2 and the greedy decoding options
(amanuensis_cli.GREEDY_ARGS: --beam-size 1 --temperature 0). Asserted:
  (a) our corpus WER against the manifest references <= faster-whisper's + 1.0 points;
  (b) our normalised text is identical to faster-whisper's on >= 90 % of the clips.
Results go to build/e2e-cache/results-<model>.json.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

import amanuensis_cli
import fw_reference
import report
from manifest import model_params
from wer import corpus_wer, normalise

WER_MARGIN_POINTS = 1.0
MIN_IDENTICAL_FRACTION = 0.90


@dataclass
class Comparison:
    model: str
    rows: list[dict] = field(default_factory=list)
    wer_ours: float = 0.0  # percent
    wer_fw: float = 0.0
    identical_fraction: float = 0.0


# base greedy is opt-in (`slow`, CI leaves it out for time): the Python package's tests compare
# base greedy with faster-whisper segment for segment, and test_decoding base beam 5 on every clip.
@pytest.fixture(scope="module", params=model_params(slow=("base",)))
def comparison(request, amanuensis, model_dirs, dev_clips, cache_dir) -> Comparison:
    model = request.param
    model_dir = model_dirs[model]
    paths = [c.path for c in dev_clips]

    fw = fw_reference.greedy_reference(model_dir, paths, cache_dir)
    ours, cli = amanuensis_cli.transcribe_json(amanuensis, model_dir, paths, language="en",
                                               threads=2)

    comp = Comparison(model)
    for clip, result in zip(dev_clips, ours):
        ref = fw["clips"][clip.path.name]
        comp.rows.append({
            "clip": clip.id,
            "reference": clip.reference,
            "ours": result["text"].strip(),
            "fw": ref["text"].strip(),
            "identical": normalise(result["text"]) == normalise(ref["text"]),
        })
    comp.wer_ours = 100 * corpus_wer((r["reference"], r["ours"]) for r in comp.rows)
    comp.wer_fw = 100 * corpus_wer((r["reference"], r["fw"]) for r in comp.rows)
    comp.identical_fraction = sum(r["identical"] for r in comp.rows) / len(comp.rows)

    audio_seconds = sum(c.seconds for c in dev_clips)
    results = {
        "model": model,
        "clips": len(dev_clips),
        "audio_seconds": round(audio_seconds, 3),
        "wer_ours_percent": round(comp.wer_ours, 3),
        "wer_fw_percent": round(comp.wer_fw, 3),
        "identical_fraction": round(comp.identical_fraction, 4),
        "ours_wall_seconds": round(cli.wall_seconds, 3),
        "ours_cpu_seconds": round(cli.cpu_seconds, 3),
        "fw_wall_seconds": round(fw["total_seconds"], 3),
        "fw_load_seconds": round(fw["load_seconds"], 3),
        "fw_from_cache": fw["cached"],
        "wall_note": "both include model load; ours is the CLI process start to exit, "
                     "fw is WhisperModel() + transcribe of every clip (measured when the "
                     "reference was generated); 2 threads each",
        "versions": fw["versions"],
        "per_clip": comp.rows,
    }
    report.write_json(cache_dir / f"results-{model}.json", results)

    print(f"\n== {model}: dev subset, {len(dev_clips)} clips, {audio_seconds:.1f} s of audio ==")
    print(report.table(["clip", "ours", "faster-whisper", "equal?"],
                       [[r["clip"], r["ours"], r["fw"], "yes" if r["identical"] else "NO"]
                        for r in comp.rows]))
    summary = (f"{model}: dev WER ours {comp.wer_ours:.2f}% vs fw {comp.wer_fw:.2f}%, "
               f"identical {comp.identical_fraction:.0%} of {len(comp.rows)} clips, "
               f"wall ours {cli.wall_seconds:.1f}s vs fw {fw['total_seconds']:.1f}s "
               f"for {audio_seconds:.0f}s of audio")
    print(summary)
    report.SUMMARY_LINES.append(summary)
    return comp


def _differences(comp: Comparison) -> str:
    return "\n".join(f"  {r['clip']}:\n    ours: {r['ours']}\n    fw:   {r['fw']}"
                     for r in comp.rows if not r["identical"])


def test_wer_not_worse_than_faster_whisper(comparison):
    assert comparison.wer_ours <= comparison.wer_fw + WER_MARGIN_POINTS, (
        f"{comparison.model}: corpus WER {comparison.wer_ours:.2f}% > faster-whisper's "
        f"{comparison.wer_fw:.2f}% + {WER_MARGIN_POINTS} points\n" + _differences(comparison))


def test_text_identical_to_faster_whisper(comparison):
    assert comparison.identical_fraction >= MIN_IDENTICAL_FRACTION, (
        f"{comparison.model}: only {comparison.identical_fraction:.0%} of clips have the same "
        f"normalised text as faster-whisper (need {MIN_IDENTICAL_FRACTION:.0%})\n"
        + _differences(comparison))
