"""`--profile`: py-spy samples every gunicorn worker during each phase of the run, and the
collapsed stacks are summed up into where the shim spends its time. py-spy is not a bench
dependency (`.venv/bin/pip install py-spy`). Only the thread holding the GIL is sampled
(`--gil`): a worker's Python code runs one thread at a time, and py-spy's idle detection
counted sleeping and blocked threads as busy here. Sampling costs CPU, so figures of a profiled
run are not the benchmark's figures."""

import contextlib
import shutil
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from bench.processes import VENV_BIN, Server
from bench.timing import progress

SAMPLES_PER_SECOND = 100
TOP = 30
OURS = "(shim/"


def py_spy() -> Path:
    found = VENV_BIN / "py-spy"
    if found.exists():
        return found
    on_path = shutil.which("py-spy")
    if on_path is None:
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    return Path(on_path)


@contextlib.contextmanager
def profiled(server: Server, phase: str, directory: Path | None) -> Iterator[None]:
    """Record the shim's workers while the block runs, when `directory` is given."""
    if directory is None:
        yield
        return
    directory.mkdir(parents=True, exist_ok=True)
    outputs = [directory / f"{phase}-{pid}.txt" for pid in server.worker_pids()]
    recorders = [
        subprocess.Popen(
            [
                str(py_spy()),
                "record",
                "--pid",
                output.stem.rsplit("-", 1)[1],
                "--format",
                "raw",
                "--rate",
                str(SAMPLES_PER_SECOND),
                "--gil",
                "--nonblocking",
                "--output",
                str(output),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for output in outputs
    ]
    try:
        yield
    finally:
        for recorder in recorders:
            recorder.send_signal(signal.SIGINT)
        for recorder in recorders:
            recorder.wait(timeout=60)
        summary = directory / f"{phase}.md"
        summary.write_text(summarize(phase, [output for output in outputs if output.exists()]))
        progress(f"profile of {phase}: {summary}")


def function_of(frame: str) -> str:
    """`name (file:line)` -> `name (file)`: every line of a function counts as the function."""
    name, _, location = frame.partition(" (")
    return f"{name} ({location.rsplit(':', 1)[0].removeprefix(str(VENV_BIN.parent))})"


def summarize(phase: str, outputs: list[Path]) -> str:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for output in outputs:
        for line in output.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [function_of(frame) for frame in stack.split(";")]
            total += count
            own[frames[-1]] += count
            for function in set(frames):
                inclusive[function] += count
    ours = Counter({function: count for function, count in inclusive.items() if OURS in function})
    lines = [
        f"# Where the shim's workers spent their time: {phase}",
        "",
        f"{total} samples of the thread holding the GIL, at {SAMPLES_PER_SECOND} per second, all workers together.",
        "",
    ]
    tables = (("Inclusive time of the shim's own functions (with what they call)", ours), ("Own time, any code", own))
    for title, counter in tables:
        lines += [f"## {title}", "", "| share | samples | function |", "| ---: | ---: | --- |"]
        for function, count in counter.most_common(TOP):
            lines.append(f"| {100 * count / max(total, 1):.1f}% | {count} | `{function}` |")
        lines.append("")
    return "\n".join(lines)
