"""The documentation's generated references, its navigation and the links into it.

``mkdocs build --strict`` (in ``.ci/run``) catches broken links inside the site; these tests
catch what it cannot: a resource or command missing from the generated reference, a page
left out of the navigation or the README, a docstring pointing at a page that does not
exist, reStructuredText markup in ``--help``.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import click

from dizions_async import catalogue
from dizions_async.cli._app import app

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted(p.name for p in (ROOT / "docs").glob("*.md"))


def _hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mkdocs_hooks", ROOT / "tools/mkdocs_hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _commands(
    command: click.Command, path: tuple[str, ...] = ("dizions",)
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))


def test_resource_reference_lists_every_resource_operation_and_key() -> None:
    text = _hooks().render_resources()
    for name, resource in catalogue.RESOURCES.items():
        assert f"## `{name}`" in text
        for op in resource.operations.values():
            assert f"`{op.method}` | `{op.path.replace('{resource}', name)}`" in text
        for key in resource.filter_keys | resource.date_keys:
            assert f"`{key}`" in text
        for field in resource.required:
            assert f"`{field}`" in text
    assert "`/v2/extension_database/{api_name}/id/{id}`" in text
    for name, resource in catalogue.RESOURCES.items():
        for field in resource.fields:
            assert f"| `{field.name}` | {field.kind.value} |" in text, (name, field)


def test_cli_reference_has_every_command_and_option() -> None:
    text = _hooks().render_cli()
    for path, command in _commands(app):
        assert f"`{' '.join(path)}`" in text
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "help":
                assert f"`{param.opts[0]}" in text, (path, param.opts)


def test_help_texts_have_no_restructuredtext_double_backticks() -> None:
    for path, command in _commands(app):
        texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
        for text in texts:
            assert "``" not in text, (path, text)


def test_markers_are_filled_in_on_their_pages() -> None:
    hooks = _hooks()
    for page, marker in (("resources.md", hooks.RESOURCES_MARKER), ("cli.md", hooks.CLI_MARKER)):
        source = (ROOT / "docs" / page).read_text(encoding="utf-8")
        assert marker in source
        assert marker not in hooks.on_page_markdown(source, page=None, config=None, files=None)


def test_every_page_is_in_the_site_navigation_and_linked_from_the_readme() -> None:
    nav = set(re.findall(r"([\w-]+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), re.MULTILINE))
    assert nav == set(PAGES)
    readme_links = set(re.findall(r"\]\(docs/([\w-]+\.md)[)#]", (ROOT / "README.md").read_text()))
    assert readme_links == set(PAGES)


def test_docstrings_refer_only_to_pages_that_exist() -> None:
    for source in (ROOT / "dizions_async").rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        assert "API.md" not in text, source
        for page in re.findall(r"docs/([\w-]+\.md)", text):
            assert page in PAGES, (source, page)
