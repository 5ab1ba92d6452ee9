"""Batch-job throughput with 1, 2 and 3 `amanuensis worker` processes on one Redis (loopback).

Usage: .venv/bin/python bench/jobs_throughput.py [--amanuensis build/release/amanuensis]
       [--model models/tiny.en] [--jobs 40]
Starts redis-server on a free port, queues the jobs (dev clips, round robin) straight into Redis
through a short-lived `amanuensis serve --job-workers 0`, then starts N worker processes and times
until every job is done. Prints a table and writes bench/results/jobs_throughput-<date>.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

import subprocess  # noqa: E402

from manifest import load_manifest  # noqa: E402
from test_jobs import CLIPS, OPTIONS, Redis, free_port, http, multipart, wait_until  # noqa: E402


def run(amanuensis: Path, model: Path, workers: int, jobs: int, workdir: Path) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    redis = Redis(workdir)
    port = free_port()
    server = subprocess.Popen([str(amanuensis), "serve", "--model", str(model), "--port", str(port),
                               "--redis", redis.url, "--job-workers", "0", "--no-access-log"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: http("GET", f"http://127.0.0.1:{port}/health", timeout=2)[0] == 200, 60, "serve")
        clips = {c.id: c for c in load_manifest() if c.id in CLIPS}
        ids, audio_seconds = [], 0.0
        for n in range(jobs):
            clip = clips[CLIPS[n % len(CLIPS)]]
            body, content_type = multipart(OPTIONS, clip.path.name, clip.path.read_bytes())
            status, answer = http("POST", f"http://127.0.0.1:{port}/v1/jobs", body, {"Content-Type": content_type})
            assert status == 202, answer
            ids.append(json.loads(answer)["id"])
            audio_seconds += clip.seconds
        threads = max(1, 2 // workers)
        start = time.perf_counter()
        procs = [subprocess.Popen([str(amanuensis), "worker", "--model", str(model), "--redis", redis.url,
                                   "--threads", str(threads)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for _ in range(workers)]

        def all_done() -> bool:
            return all(redis.cli("HGET", f"amanuensis:job:{i}", "state") == "done" for i in ids)

        wait_until(all_done, 600, "all jobs", interval=0.2)
        wall = time.perf_counter() - start
        for p in procs:
            p.terminate()
            p.wait(timeout=30)
        return {"workers": workers, "threads_per_worker": threads, "jobs": jobs,
                "audio_seconds": round(audio_seconds, 2), "wall_seconds": round(wall, 2),
                "jobs_per_minute": round(60 * jobs / wall, 1),
                "audio_hours_per_hour": round(audio_seconds / wall, 2)}
    finally:
        server.terminate()
        server.wait(timeout=30)
        redis.process.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--amanuensis", type=Path, default=REPO / "build" / "release" / "amanuensis")
    parser.add_argument("--model", type=Path, default=REPO / "models" / "tiny.en")
    parser.add_argument("--jobs", type=int, default=40)
    args = parser.parse_args()
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    rows = [run(args.amanuensis, args.model, n, args.jobs, Path(f"/tmp/amanuensis-jobs-bench-{stamp}-{n}"))
            for n in (1, 2, 3)]
    print("| workers | threads each | jobs | audio s | wall s | jobs/min | audio h per h |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['workers']} | {r['threads_per_worker']} | {r['jobs']} | {r['audio_seconds']} | "
              f"{r['wall_seconds']} | {r['jobs_per_minute']} | {r['audio_hours_per_hour']} |")
    out = REPO / "bench" / "results" / f"jobs_throughput-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"model": args.model.name, "rows": rows}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
