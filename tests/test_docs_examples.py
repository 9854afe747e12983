"""Every ```python block of the documentation runs, as a program, against the fake server.

The blocks are collected from ``docs/*.md`` and ``README.md``. Each one is written to a file
in a fresh folder and run with this interpreter, ``DIZIONS_SOURCE``/``ORG``/``USER``/
``BASE_URL`` pointing at a seeded fake server on 127.0.0.1, so ``Client()`` with no
arguments works. A block that is not a whole program is fenced ```py instead (highlighted
on the site, not run). An example that no longer runs fails here, so none can rot.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import pytest

from dizions_async.testing import FakeDizions

ROOT = Path(__file__).resolve().parent.parent
_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
#: Generous: a loaded shared machine can take seconds to start an interpreter.
_TIMEOUT = 120.0


def collect_examples(root: Path = ROOT) -> list[tuple[str, str]]:
    """``(where, code)`` for each ```python block; ``where`` is ``path:line``."""
    found = []
    for path in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{path.relative_to(root).as_posix()}:{line}", match.group(1)))
    return found


EXAMPLES = collect_examples()


def test_the_collector_finds_python_blocks_and_skips_py_fragments(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("```python\nprint(1)\n```\n\n```py\nx\n```\n")
    (tmp_path / "docs" / "a.md").write_text("text\n\n```python\nprint(2)\n```\n```bash\nls\n```\n")
    assert collect_examples(tmp_path) == [
        ("README.md:1", "print(1)\n"),
        ("docs/a.md:3", "print(2)\n"),
    ]


def test_the_readme_and_the_getting_started_page_have_runnable_examples() -> None:
    places = {where.split(":")[0] for where, _ in EXAMPLES}
    assert {"README.md", "docs/index.md"} <= places


@pytest.mark.parametrize(("where", "code"), EXAMPLES, ids=[w for w, _ in EXAMPLES])
async def test_example_runs_against_the_fake_server(where: str, code: str, tmp_path: Path) -> None:
    program = tmp_path / "example.py"
    program.write_text(code, encoding="utf-8")
    async with FakeDizions(clients=200, seed=1) as fake:
        env = {
            **os.environ,
            "DIZIONS_SOURCE": fake.keys.source,
            "DIZIONS_ORG": fake.keys.org,
            "DIZIONS_USER": fake.keys.user,
            "DIZIONS_BASE_URL": fake.url,
        }
        env.pop("DIZIONS_LOG", None)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(program),
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), _TIMEOUT)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            pytest.fail(f"{where}: still running after {_TIMEOUT:.0f} s")
    assert proc.returncode == 0, (
        f"{where} failed (exit {proc.returncode}):\n{err.decode(errors='replace')}"
        f"\n--- stdout:\n{out.decode(errors='replace')}"
    )
