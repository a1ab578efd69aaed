"""Coverage-guided fuzzing of the targets in fuzz_targets.py with atheris (``make fuzz``).

    python -m tests.reliability.fuzz [--seconds N] [--jobs J] [TARGET ...]

Each target runs in a child process of its own for N seconds (default 60), its corpus
seeded with the real inputs of :data:`fuzz_targets.SEEDS` and kept in
``build/fuzz/TARGET/corpus`` (a later run goes on from it); an input that raises anything
but the target's own errors, runs past 10 s or takes more than 2 GB is written to
``build/fuzz/TARGET/crash-…`` and the run ends with exit 1. A crash becomes a regression
test in tests/reliability/test_fuzz.py with its input inline (``test_found_…``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "build" / "fuzz"


def _one(name: str, seconds: int) -> None:  # pragma: no cover - the child
    import atheris

    with atheris.instrument_imports(include=["mxcensus"]):
        from tests.reliability.fuzz_targets import TARGETS, seeds

    target = TARGETS[name]
    corpus = OUT / name / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(seeds(name)):
        (corpus / f"seed-{i}").write_bytes(data)
    atheris.Setup(
        [
            sys.argv[0],
            str(corpus),
            f"-max_total_time={seconds}",
            "-timeout=10",
            "-rss_limit_mb=2048",
            "-max_len=262144",
            f"-artifact_prefix={OUT / name}/",
            "-print_final_stats=1",
        ],
        target,
    )
    atheris.Fuzz()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", help="Targets (default: all).")
    parser.add_argument("--seconds", type=int, default=60, help="Seconds per target.")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        _one(args.one, args.seconds)
        return 0
    from tests.reliability.fuzz_targets import TARGETS

    names = args.targets or sorted(TARGETS)
    unknown = sorted(set(names) - set(TARGETS))
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)} (known: {', '.join(TARGETS)})")
    failed = []
    for name in names:
        print(f"fuzz {name}: {args.seconds} s", flush=True)
        run = subprocess.run(
            [sys.executable, "-m", "tests.reliability.fuzz", "--one", name,
             "--seconds", str(args.seconds)],
            check=False,
        )  # fmt: skip
        if run.returncode != 0:
            failed.append(name)
            print(f"fuzz {name}: FAILED (exit {run.returncode}); see {OUT / name}", flush=True)
    print(f"fuzz: {len(names) - len(failed)} of {len(names)} targets clean", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
