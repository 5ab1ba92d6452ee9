"""The command line every benchmark runner takes (bench/fw_runner.py, bench/wcpp_runner.py and
`amanuensis bench --json`), so that bench/compare can call them all the same way."""

import argparse


def parse_runner_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--compute-type", default="default")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--language", default="en")
    parser.add_argument("files", nargs="+")
    return parser.parse_args()
