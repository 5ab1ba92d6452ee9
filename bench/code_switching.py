"""Code-switched speech (issue 17): files joining dev clips in different languages, transcribed
with per-window language (`multilingual=True`) by us and by faster-whisper, in one run.

    .venv/bin/python bench/code_switching.py [--model base] [--compute-type int8] [--threads 2]
                                             [--gap 2.0] [--files 4] [--layouts joined aligned]
                                             [--modes seq seq+vad batch8]

Each file strings together English dev clips and the non-English ones (de, es, ja, ru) with
`--gap` seconds of silence between clips ("joined"), and once more with every clip opening a
30-second window of its own ("aligned"). Modes: sequential, sequential with vad_filter, and the
batched pipeline (batch 8), all with multilingual=True. For each engine, layout and mode:
- language accuracy: the share of our segments whose `language` is that of the clip they lie in
  (faster-whisper reports no per-segment language);
- per-language error: WER (CER for ja) of the clips' text, each clip taking the segments whose
  midpoint lies in it, against the same clip transcribed alone with its language given.

Prints a markdown table and writes bench/results/code_switching-<date>.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "e2e"))
sys.path.insert(0, str(REPO_ROOT / "build" / "release" / "python"))

import amanuensis  # noqa: E402
import faster_whisper  # noqa: E402
import manifest as manifest_mod  # noqa: E402
from machine import cpu_name  # noqa: E402
from wer import edit_distance, normalise, words  # noqa: E402

RATE = 16000
WINDOW = 30 * RATE


def tokens(text: str, language: str) -> list[str]:
    """Words, or characters for Japanese (written without spaces)."""
    if language == "ja":
        return [c for c in normalise(text) if not c.isspace()]
    return words(text)


def build(clips, gap: float, aligned: bool):
    """(audio, [(start_s, end_s, clip)]) of the clips in order."""
    parts, spans, at = [], [], 0
    for clip in clips:
        audio = amanuensis.decode_audio(str(clip.path))
        spans.append((at / RATE, (at + len(audio)) / RATE, clip))
        pad = (WINDOW - len(audio) % WINDOW) % WINDOW if aligned else int(gap * RATE)
        parts += [audio, np.zeros(pad, np.float32)]
        at += len(audio) + pad
    return np.concatenate(parts), spans


def by_clip(segments, spans):
    """Each clip's text and languages: the segments whose midpoint lies in it (or in the gap
    after it)."""
    texts = {id(c): [] for _, _, c in spans}
    languages = {id(c): [] for _, _, c in spans}
    for s in segments:
        middle = (s.start + s.end) / 2
        owner = spans[0][2]
        for start, _, clip in spans:
            if middle >= start:
                owner = clip
        texts[id(owner)].append(s.text)
        languages[id(owner)].append(getattr(s, "language", None))
    return texts, languages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(REPO_ROOT / "models" / "base"))
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--gap", type=float, default=2.0)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--layouts", nargs="+", default=["joined", "aligned"],
                        choices=["joined", "aligned"])
    parser.add_argument("--modes", nargs="+", default=["seq", "seq+vad", "batch8"],
                        choices=["seq", "seq+vad", "batch8"])
    args = parser.parse_args()

    clips = manifest_mod.load_manifest(manifest_mod.SHARED_AUDIO)
    foreign = [c for c in clips if c.language != "en"]
    english = [c for c in manifest_mod.dev_subset(clips) if c.language == "en"]
    # File k: English, a foreign clip, English, the next foreign clip, ... each foreign clip once
    # per file, in a rotated order.
    files = []
    for k in range(args.files):
        order = foreign[k % len(foreign):] + foreign[:k % len(foreign)]
        sequence = []
        for i, clip in enumerate(order):
            sequence += [english[(k * len(order) + i) % len(english)], clip]
        files.append(sequence)

    engines = {
        "amanuensis": amanuensis.WhisperModel(args.model, compute_type=args.compute_type,
                                              cpu_threads=args.threads),
        "faster-whisper": faster_whisper.WhisperModel(args.model, compute_type=args.compute_type,
                                                      cpu_threads=args.threads),
    }
    # Each clip alone, its language given: the reference each engine's joined text is held to.
    alone = {name: {} for name in engines}
    for name, model in engines.items():
        for clip in {c.id: c for f in files for c in f}.values():
            segments, _ = model.transcribe(str(clip.path), language=clip.language, beam_size=5)
            alone[name][clip.id] = "".join(s.text for s in segments)

    modes = {
        "seq": {"multilingual": True, "beam_size": 5},
        "seq+vad": {"multilingual": True, "beam_size": 5, "vad_filter": True},
        "batch8": {"multilingual": True, "beam_size": 5, "batch_size": 8},
    }
    rows = []
    for layout, mode, name in [(lay, m, n) for lay in args.layouts for m in args.modes
                               for n in engines]:
        model = engines[name]
        if mode.startswith("batch"):
            module = amanuensis if name == "amanuensis" else faster_whisper
            model = module.BatchedInferencePipeline(model)
        errors, totals, alone_errors = {}, {}, {}
        right = counted = 0
        for sequence in files:
            audio, spans = build(sequence, args.gap, layout == "aligned")
            segments, _ = model.transcribe(audio, **modes[mode])
            texts, languages = by_clip(list(segments), spans)
            for _, _, clip in spans:
                ref = tokens(clip.reference, clip.language)
                hyp = tokens("".join(texts[id(clip)]), clip.language)
                solo = tokens(alone[name][clip.id], clip.language)
                errors[clip.language] = errors.get(clip.language, 0) + edit_distance(ref, hyp)
                alone_errors[clip.language] = (alone_errors.get(clip.language, 0)
                                               + edit_distance(ref, solo))
                totals[clip.language] = totals.get(clip.language, 0) + len(ref)
                for language in languages[id(clip)]:
                    if language is not None:
                        counted += 1
                        right += language == clip.language
        row = {"layout": layout, "mode": mode, "engine": name,
               "language_accuracy": right / counted if counted else None,
               "segments_with_language": counted}
        for language in sorted(totals):
            row[f"{language}_error"] = 100 * errors[language] / totals[language]
            row[f"{language}_alone"] = 100 * alone_errors[language] / totals[language]
        rows.append(row)
        print(json.dumps(row), flush=True)

    languages = sorted({k[:-6] for r in rows for k in r if k.endswith("_error")})
    print(f"\nCPU: {cpu_name()}; model {Path(args.model).name} {args.compute_type}, beam 5, "
          f"{args.threads} threads; {args.files} files, gap {args.gap} s\n")
    print("| layout | mode | engine | segments right language | "
          + " | ".join(f"{lang} joined / alone %" for lang in languages) + " |")
    print("|---|---|---|---|" + "---|" * len(languages))
    for r in rows:
        accuracy = (f"{100 * r['language_accuracy']:.1f} % of {r['segments_with_language']}"
                    if r["language_accuracy"] is not None else "not reported")
        cells = [f"{r[f'{lang}_error']:.1f} / {r[f'{lang}_alone']:.1f}" for lang in languages]
        print(f"| {r['layout']} | {r['mode']} | {r['engine']} | {accuracy} | "
              + " | ".join(cells) + " |")
    out = REPO_ROOT / "bench" / "results" / (
        "code_switching-" + datetime.datetime.now().strftime("%Y-%m-%dT%H%M%S") + ".json")
    out.write_text(json.dumps({"cpu": cpu_name(), "args": vars(args), "rows": rows}, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
