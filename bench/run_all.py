"""`make bench`: run the benchmarks in turn, each in its own process on a fresh database,
then repeat every summary line together.

    .venv/bin/python bench/run_all.py [ingest rollup freshness query lifecycle sdk_overhead budget_latency]

`sdk_overhead` needs openai, so it runs with the SDK's virtualenv (sdk/python/.venv, built by
`make sdk-test`) rather than the server's.

Exit status: non-zero if a script failed (a crash, a wrong sum, a rejected request); a figure
that is short of its target is reported, not a failure.
"""

import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SCRIPTS = (
    "ingest",
    "rollup",
    "freshness",
    "query",
    "lifecycle",
    "sdk_overhead",
    "budget_latency",
    "dashboard",
)
SDK_PYTHON = BENCH.parent / "sdk" / "python" / ".venv" / "bin" / "python"


def main() -> int:
    chosen = sys.argv[1:] or list(SCRIPTS)
    unknown = [name for name in chosen if name not in SCRIPTS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(SCRIPTS)}")
        return 2
    summaries: list[str] = []
    failed: list[str] = []
    for name in chosen:
        print(f"\n### bench/{name}.py", flush=True)
        started = time.perf_counter()
        python = str(SDK_PYTHON) if name == "sdk_overhead" else sys.executable
        process = subprocess.Popen(
            [python, str(BENCH / f"{name}.py")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        for line in process.stdout:
            print(line, end="", flush=True)
            if " target: " in line:
                summaries.append(line.rstrip())
        code = process.wait()
        print(f"### bench/{name}.py: exit {code} after {time.perf_counter() - started:.0f}s")
        if code:
            failed.append(name)
    print("\n### summary")
    for line in summaries:
        print(line)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
