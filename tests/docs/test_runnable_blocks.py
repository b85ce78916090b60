"""The guides' runnable code blocks run, and each one checks what it shows.

A fenced block whose info string holds the word `runnable` (```` ```python runnable ````,
```` ```bash runnable needs=redis,promtool ````) is executed on its own, in a fresh
temporary directory: Python in a fresh interpreter with the checkout's `src` on
`PYTHONPATH`, bash with `bash -euo pipefail` and `overdrive` on `PATH`. A block passes
when it exits with 0; the blocks assert their own results. `needs=` names the services a
block uses; without one the block is skipped, or fails under CI=true. The convention is
described for readers in docs/README.md. The relative links between the pages are checked
too, down to the heading they name.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import service_required

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
GUIDES = ("performance-tuning.md", "cache-configuration.md", "monitoring-setup.md",
          "troubleshooting.md")
LANGUAGES = ("python", "bash")
SERVICES = ("redis", "postgres", "promtool")
BLOCK_TIMEOUT = 90
PARALLEL_BLOCKS = 4

FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it starts, its info string words and its code."""

    path: Path
    line: int
    language: str
    words: tuple[str, ...]
    code: str

    @property
    def runnable(self) -> bool:
        return "runnable" in self.words

    @property
    def needs(self) -> tuple[str, ...]:
        for word in self.words:
            if word.startswith("needs="):
                return tuple(name for name in word.removeprefix("needs=").split(",") if name)
        return ()

    @property
    def name(self) -> str:
        return f"{self.path.name}:{self.line}"


def fenced_blocks(path: Path) -> list[Block]:
    """Every fenced block of a Markdown file (CommonMark fences, backticks or tildes)."""
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, info = opening["fence"], opening["info"].split()
        body: list[str] = []
        start = index + 1
        index += 1
        while index < len(lines):
            closing = FENCE.match(lines[index])
            if closing and closing["fence"][0] == fence[0] and len(closing["fence"]) >= len(
                    fence) and not closing["info"].strip():
                break
            body.append(lines[index])
            index += 1
        index += 1
        language = info[0] if info else ""
        blocks.append(Block(path, start, language, tuple(info[1:]), "\n".join(body) + "\n"))
    return blocks


def all_blocks() -> list[Block]:
    return [block for path in sorted(DOCS.glob("*.md")) for block in fenced_blocks(path)]


RUNNABLE = [block for block in all_blocks() if block.runnable]


def _redis_up() -> bool:
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _postgres_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


AVAILABLE = {
    "redis": _redis_up,
    "postgres": _postgres_up,
    "promtool": lambda: shutil.which("promtool") is not None,
}


def _require(needs: tuple[str, ...]) -> None:
    missing = [name for name in needs if not AVAILABLE[name]()]
    if not missing:
        return
    message = f"this block needs {', '.join(missing)}"
    if service_required():
        pytest.fail(f"{message}, missing while CI=true (scripts/services, scripts/system-packages)")
    pytest.skip(message)


def _environment(workdir: Path) -> dict[str, str]:
    """PYTHONPATH with the checkout's src; PATH with `overdrive` and this interpreter's tools."""
    bin_dir = workdir / ".bin"
    bin_dir.mkdir()
    shim = bin_dir / "overdrive"
    shim.write_text(
        "#!/bin/sh\n"
        f'exec "{sys.executable}" -c "import sys; from overdrive.cli import main; '
        'sys.argv[0] = \'overdrive\'; main()" "$@"\n'
    )
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    python_path = os.pathsep.join(
        filter(None, (str(ROOT / "src"), os.environ.get("PYTHONPATH", ""))))
    path = os.pathsep.join(
        (str(bin_dir), str(Path(sys.executable).parent), os.environ.get("PATH", "")))
    return {**os.environ, "PYTHONPATH": python_path, "PATH": path,
            "PYTHONDONTWRITEBYTECODE": "1", "COLUMNS": "120"}


def test_the_guides_exist_and_carry_runnable_blocks() -> None:
    """Each guide exists and shows at least two blocks a reader can run as they are."""
    for guide in GUIDES:
        blocks = [block for block in RUNNABLE if block.path.name == guide]
        assert len(blocks) >= 2, f"docs/{guide} has {len(blocks)} runnable blocks"


def test_runnable_blocks_are_well_formed() -> None:
    """A runnable block is python or bash, and names only services the runner knows."""
    problems = [
        f"{block.name}: language {block.language!r}, needs {block.needs}"
        for block in RUNNABLE
        if block.language not in LANGUAGES or set(block.needs) - set(SERVICES)
    ]
    assert not problems, problems


def test_fence_parser_reads_info_strings(tmp_path: Path) -> None:
    """The parser sees the marker and the needs, and the line the block starts on."""
    sample = tmp_path / "sample.md"
    sample.write_text("text\n\n```python runnable needs=redis\nprint(1)\n```\n\n"
                      "````bash\n```\nnested\n```\n````\n")
    first, second = fenced_blocks(sample)
    assert (first.line, first.language, first.runnable, first.needs) == (
        3, "python", True, ("redis",))
    assert first.code == "print(1)\n"
    assert (second.language, second.runnable, second.code) == (
        "bash", False, "```\nnested\n```\n")


@dataclass(frozen=True)
class Outcome:
    returncode: int | None  # None: timed out
    stdout: str
    stderr: str


def run_block(block: Block, directory: Path) -> Outcome:
    """Run one block in `directory/work`; whatever it leaves running is ended with it."""
    workdir = directory / "work"
    workdir.mkdir()
    env = _environment(directory)
    if block.language == "python":
        script = directory / "block.py"
        command = [sys.executable, str(script)]
    else:
        script = directory / "block.sh"
        command = ["bash", "-euo", "pipefail", str(script)]
    script.write_text(block.code)
    # A session of its own, so a server the block started dies with it on any outcome.
    process = subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=BLOCK_TIMEOUT)
        returncode: int | None = process.returncode
    except subprocess.TimeoutExpired:
        _end_session(process)
        stdout, stderr = process.communicate()
        returncode = None
    _end_session(process)
    return Outcome(returncode, stdout, stderr)


def _end_session(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)


class BlockRunner:
    """Starts every selected block at once, a few at a time; each test waits for its own.

    The blocks spend most of their time starting interpreters and waiting on servers, so
    running them side by side keeps the docs suite within about a minute.
    """

    def __init__(self, directories: pytest.TempPathFactory) -> None:
        self.directories = directories
        self.pool = ThreadPoolExecutor(max_workers=PARALLEL_BLOCKS)
        self.futures: dict[str, Future[Outcome]] = {}

    def start(self, blocks: list[Block]) -> None:
        for block in blocks:
            if block.name not in self.futures and all(AVAILABLE[n]() for n in block.needs):
                directory = self.directories.mktemp("block")
                self.futures[block.name] = self.pool.submit(run_block, block, directory)

    def outcome(self, block: Block) -> Outcome:
        self.start([block])
        return self.futures[block.name].result()


@pytest.fixture(scope="session")
def runner(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[BlockRunner]:
    runner = BlockRunner(tmp_path_factory)
    selected = [item.callspec.params["block"] for item in request.session.items
                if isinstance(item, pytest.Function) and hasattr(item, "callspec")
                and item.originalname == "test_runnable_block"]
    runner.start(selected)
    yield runner
    runner.pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.parametrize("block", RUNNABLE, ids=[block.name for block in RUNNABLE])
def test_runnable_block(block: Block, runner: BlockRunner) -> None:
    """The block runs to completion in a fresh directory; its own checks hold."""
    _require(block.needs)
    outcome = runner.outcome(block)
    if outcome.returncode is None:
        pytest.fail(f"{block.name} did not finish within {BLOCK_TIMEOUT}s:\n"
                    f"{outcome.stdout[-4000:]}\n{outcome.stderr[-4000:]}")
    if outcome.returncode != 0:
        pytest.fail(f"{block.name} exited with {outcome.returncode}\n--- stdout\n"
                    f"{outcome.stdout[-4000:]}\n--- stderr\n{outcome.stderr[-4000:]}")


LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


def heading_anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    fenced = {line for block in fenced_blocks(path)
              for line in range(block.line, block.line + block.code.count("\n") + 1)}
    return {heading_anchor(line.lstrip("#"))
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if line.startswith("#") and number not in fenced}


def test_heading_anchors_follow_github() -> None:
    """The anchor rule matches the headings the guides link to."""
    assert heading_anchor(" N+1 queries") == "n1-queries"
    assert heading_anchor(" Lifetimes: ttl, swr and early refresh") == (
        "lifetimes-ttl-swr-and-early-refresh")
    assert heading_anchor(" Load budgets with `overdrive load`") == (
        "load-budgets-with-overdrive-load")


def test_relative_links_reach_a_file_and_heading() -> None:
    """Every relative link of the docs and the README names a file, and a heading in it."""
    broken = []
    for page in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        for match in LINK.finditer(text):
            target = match["target"]
            if "://" in target or target.startswith("mailto:"):
                continue
            file_part, _, anchor = target.partition("#")
            linked = (page.parent / file_part).resolve() if file_part else page
            if not linked.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, broken
