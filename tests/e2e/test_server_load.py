"""Load: 200 requests at concurrency 8 from a second process (bench/server_load.py) against
`amanuensis serve --workers 2`. No request may fail (a 429 would be deliberate, but the queue is
deep enough for 8 clients), and resident memory after the run stays within 10% of what it was
after the first 20 requests: nothing grows per request.

Short clips (1-3.5 s) and greedy decoding keep it near a minute on two cores; the engine's
per-request cost is what the benchmark measures, not this test.
"""

from __future__ import annotations

import json
import subprocess
import sys

from manifest import by_id
from server_process import ServerProcess

CONCURRENCY = 8
FIRST = 20
TOTAL = 200


def run_load(repo_root, server, clips, requests: int) -> dict:
    cmd = [sys.executable, str(repo_root / "bench" / "server_load.py"), "--url", server.url,
           "--requests", str(requests), "--concurrency", str(CONCURRENCY), "--warmup", "0",
           "--field", "beam_size=1", "--timeout", "120", "--max-seconds", "400", "--json",
           *[str(c) for c in clips]]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=500)
    assert proc.stdout.strip(), f"load generator printed nothing:\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_200_requests_at_concurrency_8(amanuensis, tiny_model, manifest, repo_root):
    clips = [by_id(manifest, f"ps-cards-00{i}").path for i in range(1, 6)]
    # int8, the fastest path: what is measured here is the server under load, not transcripts.
    with ServerProcess(amanuensis, tiny_model, "--workers", "2", "--max-queue", "16",
                       "--compute-type", "int8", "--no-access-log") as server:
        first = run_load(repo_root, server, clips, FIRST)
        rss_first = server.rss_bytes()
        rest = run_load(repo_root, server, clips, TOTAL - FIRST)
        rss_end = server.rss_bytes()
        metrics = server.metrics()
        assert server.stop() == 0, "the server did not shut down cleanly:\n" + server.log()[-2000:]

    for run in (first, rest):
        assert run["failed"] == 0, run["errors"]
        assert run["ok"] + run["rejected_429"] == run["requests"]
    assert first["requests"] + rest["requests"] == TOTAL
    ok = first["ok"] + rest["ok"]
    assert ok >= TOTAL * 0.9, f"only {ok} of {TOTAL} were served (the rest got 429)"
    served = metrics['amanuensis_http_requests_total{endpoint="/v1/audio/transcriptions",status="200"}']
    assert served == ok
    # The decoder's counters (shared steps are tested in tests/unit/decode_batching_test.cc).
    steps = metrics["amanuensis_decode_steps_total"]
    assert steps >= ok and metrics["amanuensis_decode_rows_total"] >= steps
    assert metrics["amanuensis_decode_batched_steps_total"] <= steps
    assert metrics["amanuensis_decode_batch_rows_total"] <= metrics["amanuensis_decode_rows_total"]
    growth = rss_end / rss_first
    print(f"\nload: {ok}/{TOTAL} ok, p50 {rest['latency_p50']} s, p95 {rest['latency_p95']} s, "
          f"{rest['audio_hours_per_hour']} audio h/h; RSS {rss_first / 2**20:.0f} -> "
          f"{rss_end / 2**20:.0f} MiB ({(growth - 1) * 100:+.1f}%)")
    assert growth <= 1.10, f"resident memory grew {(growth - 1) * 100:.1f}% over the run"
