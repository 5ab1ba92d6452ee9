#!/usr/bin/env python3
"""Live transcription over /v1/realtime: latency from the end of speech to `completed`, and how
many live sessions at real-time pace the server keeps up with.

    .venv/bin/python bench/realtime.py --models tiny.en base            # both measurements
    .venv/bin/python bench/realtime.py --models base --sessions 1 2 4 --skip-latency

Latency: each English dev clip (as the e2e suite picks them) is streamed alone at real-time pace
in 40 ms chunks, followed by 2 s of silence, into a server_vad session (threshold 0.5, 300 ms
prefix, 500 ms silence: OpenAI's defaults). The end of speech is the moment the clip's last chunk
is sent; latency is the wall time from then to the `completed` event of the clip's last turn.
Beside it, the peer: faster-whisper (same model folder, int8, the same threads, greedy) timed on
the same clips as files, which is the least a live server built on it would add after the end of
speech, before any VAD wait. p50 and p95 over the clips.

Concurrency: N sessions at once, each streaming the dev clips back to back (1 s of silence
between them) for --seconds of audio at real-time pace. A level keeps up when the p95 latency of
its turns stays under --keep-up-seconds and no turn is left unfinished. The largest N that keeps
up is reported per model.

Results go to bench/results/realtime-<date>.json. The server runs with --workers 2 --threads 1
(2 cores) and both engines with --compute-type int8 (bench/compare's headline cell); set
--workers/--threads/--compute-type to change that.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

import manifest  # noqa: E402
import realtime_client as rt  # noqa: E402
from machine import cpu_name  # noqa: E402
from wer import corpus_wer  # noqa: E402

LISTENING = re.compile(r"listening on http://([^:\s]+):(\d+)")
CHUNK_MS = 40



class Server:
    def __init__(self, binary: Path, model: Path, workers: int, threads: int, compute_type: str):
        self.log = tempfile.NamedTemporaryFile(prefix="realtime-bench-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [str(binary), "serve", "--model", str(model), "--host", "127.0.0.1", "--port", "0",
             "--workers", str(workers), "--threads", str(threads), "--max-live-sessions", "64",
             "--compute-type", compute_type],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 120
        while True:
            text = Path(self.log.name).read_text(errors="replace")
            if "ready" in text and (match := LISTENING.search(text)):
                self.url = f"ws://{match.group(1)}:{match.group(2)}/v1/realtime?intent=transcription"
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start:\n" + text[-3000:])
            time.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


async def stream_session(url: str, pieces: list[tuple[bytes, bool]]) -> dict:
    """Streams `pieces` (audio, is_speech) at real-time pace; returns the turns' latencies (from
    the end of the last speech piece sent before each completion) and the transcript."""
    from websockets.asyncio.client import connect

    log = rt.SessionLog()
    speech_ends: list[float] = []
    completions: list[float] = []
    async with connect(url, subprotocols=["realtime"], max_size=None) as ws:
        log.add(json.loads(await ws.recv()))
        await ws.send(json.dumps(rt.session_update()))

        async def read():
            async for message in ws:
                event = json.loads(message)
                log.add(event)
                if event["type"] == "conversation.item.input_audio_transcription.completed":
                    completions.append(time.monotonic())

        reader = asyncio.create_task(read())
        started = time.monotonic()
        sent = 0.0
        for audio, speech in pieces:
            for chunk in rt.chunks(audio, CHUNK_MS):
                await ws.send(json.dumps({"type": "input_audio_buffer.append",
                                          "audio": rt.b64(chunk)}))
                sent += len(chunk) / (2 * rt.PCM_RATE)
                await asyncio.sleep(max(0.0, started + sent - time.monotonic()))
            if speech:
                speech_ends.append(time.monotonic())
        deadline = time.monotonic() + 60
        while log.pending() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        reader.cancel()
    # Each completion is attributed to the latest end of speech before it.
    latencies = []
    for done in completions:
        before = [end for end in speech_ends if end <= done]
        if before:
            latencies.append(done - before[-1])
    return {"latencies": latencies, "text": log.text(), "unfinished": log.pending(),
            "errors": log.errors, "turns": len(log.turns)}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


def faster_whisper_seconds(model: Path, clips, threads: int, compute_type: str) -> list[float]:
    from faster_whisper import WhisperModel, decode_audio

    fw = WhisperModel(str(model), device="cpu", compute_type=compute_type, cpu_threads=threads)
    times = []
    for clip in clips:
        audio = decode_audio(str(clip.path))
        start = time.perf_counter()
        segments, _ = fw.transcribe(audio, language="en", beam_size=1, condition_on_previous_text=False)
        list(segments)
        times.append(time.perf_counter() - start)
    return times


def measure_latency(server: Server, clips) -> dict:
    per_clip, texts = [], []
    for clip in clips:
        result = asyncio.run(stream_session(
            server.url, [(rt.pcm16(clip.path), True), (rt.silence(2.0), False)]))
        per_clip.append(result["latencies"][-1] if result["latencies"] else float("nan"))
        texts.append(result["text"])
    wer = corpus_wer((c.reference, t) for c, t in zip(clips, texts))
    return {"latency_s": per_clip, "p50": percentile(per_clip, 0.5),
            "p95": percentile(per_clip, 0.95), "wer": wer}


def measure_concurrency(server: Server, clips, sessions: int, seconds: float,
                        keep_up: float) -> dict:
    pieces = []
    total = 0.0
    while total < seconds:
        for clip in clips:
            pieces += [(rt.pcm16(clip.path), True), (rt.silence(1.0), False)]
            total += clip.seconds + 1.0
            if total >= seconds:
                break

    async def run():
        return await asyncio.gather(*(stream_session(server.url, pieces) for _ in range(sessions)))

    results = asyncio.run(run())
    latencies = [x for r in results for x in r["latencies"]]
    unfinished = sum(r["unfinished"] for r in results)
    p95 = percentile(latencies, 0.95)
    return {"sessions": sessions, "turns": len(latencies), "p50": percentile(latencies, 0.5),
            "p95": p95, "unfinished": unfinished, "errors": sum(len(r["errors"]) for r in results),
            "keeps_up": unfinished == 0 and p95 <= keep_up}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", type=Path, default=REPO / "build/release/amanuensis")
    parser.add_argument("--models", nargs="+", default=["tiny.en", "base"])
    parser.add_argument("--compute-type", default="int8",
                        help="for the server and faster-whisper alike (bench/compare's headline: int8)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 2, 4, 6, 8])
    parser.add_argument("--seconds", type=float, default=60.0, help="audio per concurrent session")
    parser.add_argument("--keep-up-seconds", type=float, default=2.0)
    parser.add_argument("--clips", type=int, default=0, help="only the first N dev clips (0: all)")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-concurrency", action="store_true")
    args = parser.parse_args()

    clips = manifest.dev_subset(manifest.load_manifest())
    if args.clips:
        clips = clips[:args.clips]
    out = {"cpu": cpu_name(), "cores": os.cpu_count(), "compute_type": args.compute_type,
           "workers": args.workers,
           "threads": args.threads, "models": {}}
    for name in args.models:
        model = REPO / "models" / name
        entry: dict = {}
        server = Server(args.binary, model, args.workers, args.threads, args.compute_type)
        try:
            if not args.skip_latency:
                entry["latency"] = measure_latency(server, clips)
            if not args.skip_concurrency:
                entry["concurrency"] = []
                for n in args.sessions:
                    level = measure_concurrency(server, clips, n, args.seconds, args.keep_up_seconds)
                    entry["concurrency"].append(level)
                    print(f"{name}: {n} sessions: p50 {level['p50']:.2f} s, p95 {level['p95']:.2f} s,"
                          f" unfinished {level['unfinished']}: "
                          f"{'keeps up' if level['keeps_up'] else 'falls behind'}", flush=True)
                    if not level["keeps_up"]:
                        break
        finally:
            server.stop()
        if not args.skip_latency:
            fw = faster_whisper_seconds(model, clips, args.workers * args.threads, args.compute_type)
            entry["latency"]["faster_whisper_file_s"] = {"p50": percentile(fw, 0.5),
                                                         "p95": percentile(fw, 0.95)}
        out["models"][name] = entry

    print(f"\nCPU: {out['cpu']} ({out['cores']} cores); {args.compute_type}; server --workers "
          f"{args.workers} --threads {args.threads}")
    print("| model | end of speech -> completed p50 | p95 | live WER | faster-whisper on the "
          "turn as a file p50 | p95 | sessions kept up |")
    print("|---|---|---|---|---|---|---|")
    for name, entry in out["models"].items():
        lat = entry.get("latency", {})
        fw = lat.get("faster_whisper_file_s", {})
        kept = [c["sessions"] for c in entry.get("concurrency", []) if c["keeps_up"]]
        print(f"| {name} | {lat.get('p50', float('nan')):.2f} s | {lat.get('p95', float('nan')):.2f} s"
              f" | {100 * lat.get('wer', float('nan')):.2f} % | {fw.get('p50', float('nan')):.2f} s"
              f" | {fw.get('p95', float('nan')):.2f} s | {max(kept) if kept else 0} |")
    stamp = dt.datetime.now().strftime("%Y-%m-%dT%H%M%S")
    path = REPO / "bench" / "results" / f"realtime-{stamp}.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
