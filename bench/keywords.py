"""Weighted keywords (issue 17): recall of the names and rare words base misspells on the dev
clips, WER on the clips without them, and false insertions, for us with and without `keywords`
and for faster-whisper with and without `hotwords` (its nearest option: a prompt), in one run.

    .venv/bin/python bench/keywords.py [--model base] [--compute-type int8] [--threads 2]
                                       [--keywords "Gutenberg,woodcutters,engraved,clubs"]
                                       [--weights 1 2]

The default keywords are the words base (int8, beam 5) gets wrong on the English dev clips
(bench/compare's dev set): "Gutenberg" (written Guttenberg), "woodcutters" (wood cutters),
"engraved" (and graved) and "clubs" (clothes, cloves, close). The clips whose reference holds
none of them are the control set.
- recall: keyword occurrences in the references that the transcript has too (after the
  normalisation of tests/e2e/wer.py), over all occurrences;
- false insertions: keyword occurrences in transcripts beyond their reference's, per 1,000
  reference words of all clips;
- WER of the control clips, and of all clips.

Prints a markdown table and writes bench/results/keywords-<date>.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "e2e"))
sys.path.insert(0, str(REPO_ROOT / "build" / "release" / "python"))

import amanuensis  # noqa: E402
import faster_whisper  # noqa: E402
import manifest as manifest_mod  # noqa: E402
from machine import cpu_name  # noqa: E402
from wer import corpus_wer, words  # noqa: E402

DEFAULT_KEYWORDS = "Gutenberg,woodcutters,engraved,clubs"


def occurrences(text_words: list[str], keyword: str) -> int:
    phrase = words(keyword)
    n = len(phrase)
    return sum(text_words[i:i + n] == phrase for i in range(len(text_words) - n + 1))


def score(clips, texts: list[str], keywords: list[str]) -> dict:
    found = wanted = inserted = reference_words = 0
    for clip, text in zip(clips, texts):
        ref, hyp = words(clip.reference), words(text)
        reference_words += len(ref)
        for keyword in keywords:
            r, h = occurrences(ref, keyword), occurrences(hyp, keyword)
            wanted += r
            found += min(r, h)
            inserted += max(0, h - r)
    control = [(c.reference, t) for c, t in zip(clips, texts)
               if not any(occurrences(words(c.reference), k) for k in keywords)]
    return {
        "recall_percent": 100.0 * found / max(1, wanted),
        "found": found, "wanted": wanted,
        "false_insertions": inserted,
        "false_insertions_per_1000_words": 1000.0 * inserted / max(1, reference_words),
        "control_clips": len(control),
        "wer_control_percent": 100.0 * corpus_wer(control),
        "wer_all_percent": 100.0 * corpus_wer([(c.reference, t) for c, t in zip(clips, texts)]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(REPO_ROOT / "models" / "base"))
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--keywords", default=DEFAULT_KEYWORDS)
    parser.add_argument("--weights", type=float, nargs="+", default=[1.0, 2.0])
    args = parser.parse_args()

    clips = manifest_mod.dev_subset(manifest_mod.load_manifest(manifest_mod.SHARED_AUDIO))
    keywords = [k.strip() for k in args.keywords.split(",")]
    ours = amanuensis.WhisperModel(args.model, compute_type=args.compute_type,
                                   cpu_threads=args.threads)
    fw = faster_whisper.WhisperModel(args.model, compute_type=args.compute_type,
                                     cpu_threads=args.threads)
    runs = [("amanuensis", "none", ours, {})]
    for weight in args.weights:
        runs.append(("amanuensis", f"keywords, weight {weight:g}", ours,
                     {"keywords": {k: weight for k in keywords}}))
    runs += [("faster-whisper", "none", fw, {}),
             ("faster-whisper", "hotwords", fw, {"hotwords": " ".join(keywords)})]
    rows = []
    for engine, setting, model, extra in runs:
        texts = []
        for clip in clips:
            segments, _ = model.transcribe(str(clip.path), beam_size=args.beam_size, **extra)
            texts.append("".join(s.text for s in segments))
        row = {"engine": engine, "setting": setting, **score(clips, texts, keywords),
               "texts": texts}
        rows.append(row)
        print(f"{engine} ({setting}): recall {row['recall_percent']:.0f} %, "
              f"control WER {row['wer_control_percent']:.2f} %", file=sys.stderr)

    print(f"\n{cpu_name()}; {Path(args.model).name}, {args.compute_type}, beam {args.beam_size}, "
          f"{len(clips)} dev clips; keywords: {', '.join(keywords)}\n")
    print("| engine | setting | keyword recall | false insertions / 1,000 words | "
          "WER control clips | WER all clips |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['engine']} | {r['setting']} | {r['recall_percent']:.0f} % "
              f"({r['found']}/{r['wanted']}) | {r['false_insertions_per_1000_words']:.2f} "
              f"({r['false_insertions']}) | {r['wer_control_percent']:.2f} % "
              f"({r['control_clips']} clips) | {r['wer_all_percent']:.2f} % |")
    out = REPO_ROOT / "bench" / "results" / \
        f"keywords-{datetime.datetime.now().strftime('%Y-%m-%dT%H%M%S')}.json"
    out.write_text(json.dumps({"date": datetime.datetime.now().isoformat(), "cpu": cpu_name(),
                               "model": args.model, "compute_type": args.compute_type,
                               "beam_size": args.beam_size, "keywords": keywords,
                               "clips": [c.id for c in clips], "rows": rows},
                              indent=1, ensure_ascii=False))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
