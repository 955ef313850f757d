"""Code in the docs runs in the test suite.

For every Markdown page under ``docs/``, the ```` ```python ```` fenced blocks are run in
order in one fresh module namespace per page (later blocks see the names of earlier
ones), with the working directory set to a temporary directory so that SQLite files
land there. Other fences (``sh``, ``text``, ``pycon``, MyST directives such as
``{eval-rst}``) are not run.

A block that cannot run here (it needs a PostgreSQL server) opts out with an HTML
comment on the line before its fence, blank lines allowed in between::

    <!-- no-test -->
    ```python
    ...
    ```

A failing block reports the page and line in its traceback, because each block is
compiled with the page as its file name and its own line numbers.
"""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import attrs
import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
NO_TEST = "<!-- no-test -->"
# An opening fence: up to 3 spaces, then 3+ backticks or tildes, then the info string.
_FENCE_OPEN = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


@attrs.frozen
class Block:
    """One fenced code block of a page."""

    language: str
    code: str
    line: int  # 1-based line number of the first line of code
    skipped: bool


def fenced_blocks(text: str) -> list[Block]:
    """Every fenced code block in ``text`` (nested fences inside them are not blocks)."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE_OPEN.match(lines[i])
        if opening is None:
            i += 1
            continue
        fence, info = opening["fence"], opening["info"].strip()
        closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        end = i + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        before = i - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        blocks.append(
            Block(
                language=info.split()[0] if info else "",
                code="\n".join(lines[i + 1 : end]) + "\n",
                line=i + 2,
                skipped=before >= 0 and lines[before].strip() == NO_TEST,
            )
        )
        i = end + 1
    return blocks


def python_blocks(page: Path) -> list[Block]:
    """The ```` ```python ```` blocks of ``page``, in order."""
    return [b for b in fenced_blocks(page.read_text("utf-8")) if b.language == "python"]


README = DOCS.parent / "README.md"
PAGES = [
    *sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.relative_to(DOCS).parts),
    README,  # the README's example runs too
]


def _page_id(page: Path) -> str:
    return page.name if page == README else page.relative_to(DOCS).as_posix()


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_python_blocks_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = [b for b in python_blocks(page) if not b.skipped]
    if not blocks:
        pytest.skip(f"{_page_id(page)} has no Python examples to run")
    monkeypatch.chdir(tmp_path)
    # A real module, so dataclasses, pickling and typing.get_type_hints work on classes
    # defined in an example.
    name = "docs_example_" + re.sub(r"\W", "_", _page_id(page).removesuffix(".md"))
    module = types.ModuleType(name)
    monkeypatch.setitem(sys.modules, name, module)
    for block in blocks:
        # Pad with blank lines so tracebacks show the line number in the page.
        source = "\n" * (block.line - 1) + block.code
        exec(compile(source, str(page), "exec"), module.__dict__)


CONCEPT_PAGES = sorted((DOCS / "concepts").glob("*.md"))


@pytest.mark.parametrize("page", CONCEPT_PAGES, ids=_page_id)
def test_concept_pages_have_runnable_examples(page: Path) -> None:
    assert any(not b.skipped for b in python_blocks(page)), (
        f"{_page_id(page)} needs at least one runnable ```python example"
    )


def test_docs_were_found() -> None:
    assert DOCS / "index.md" in PAGES
    assert CONCEPT_PAGES


def test_fenced_blocks_are_parsed() -> None:
    text = "\n".join(
        [
            "# Title",
            "```python",
            "x = 1",
            "```",
            "",
            "<!-- no-test -->",
            "",
            "```python",
            "needs_postgres()",
            "```",
            "````md",
            "```python",
            "not_a_block()",
            "```",
            "````",
            ":::{note}",
            "~~~python",
            "y = x + 1",
            "~~~",
            ":::",
            "```pycon",
            ">>> 1",
            "```",
        ]
    )
    blocks = fenced_blocks(text)
    assert [(b.language, b.code, b.line, b.skipped) for b in blocks] == [
        ("python", "x = 1\n", 3, False),
        ("python", "needs_postgres()\n", 9, True),
        ("md", "```python\nnot_a_block()\n```\n", 12, False),
        ("python", "y = x + 1\n", 18, False),
        ("pycon", ">>> 1\n", 22, False),
    ]


def test_api_page_lists_every_exported_name_under_its_module() -> None:
    import finance_crm

    text = (DOCS / "api.md").read_text("utf-8")
    section = text[text.index("The names exported by `finance_crm`") :]
    section = section[: section.index("\n## ")]
    listed: dict[str, str] = {}
    module = ""
    for line in section.splitlines():
        heading = re.match(r"- \{py:mod\}`([\w.]+)`:", line)
        if heading:
            module = heading[1]
        elif line.startswith("- "):
            module = "finance_crm"
        for name in re.findall(r"`(\w+)`", line.split(":", 1)[-1]):
            if name != "finance_crm":
                listed[name] = module
    assert sorted(listed) == sorted(finance_crm.__all__)
    for name, where in listed.items():
        obj = getattr(finance_crm, name)
        if obj is str:  # a type alias (StaffId, OrgUnitCode): documented in its module
            continue
        assert getattr(obj, "__module__", where) == where, f"{name} is defined elsewhere"
