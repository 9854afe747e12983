"""MkDocs hook: the generated reference pages, rendered from the code at build time.

A page holding the marker ``<!-- reference:resources -->`` gets the resource reference,
read from :mod:`dizions_async.catalogue` (the data the SDK's query builder and writes use);
``<!-- reference:cli -->`` gets the command-line reference, read from the click commands
(the objects ``dizions --help`` prints). Neither can drift from the code: there is nothing
to keep in step by hand. The renderers are plain functions, so the tests call them too.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator
from typing import Any

import click

from dizions_async import catalogue
from dizions_async.catalogue import Resource

__all__ = ["on_page_markdown", "render_cli", "render_resources"]

RESOURCES_MARKER = "<!-- reference:resources -->"
CLI_MARKER = "<!-- reference:cli -->"

#: What each operation kind means to a reader, and the SDK call that performs it.
_KIND_TEXT = {
    catalogue.OperationKind.READ: "read (`fetch`, `stream`)",
    catalogue.OperationKind.REPORT: "report (`report`)",
    catalogue.OperationKind.CREATE: "create (`create`)",
    catalogue.OperationKind.CREATE_BY_EXTERNAL_ID: "create by external ID (`create_client`)",
    catalogue.OperationKind.CREATE_FOR_REFERRAL: "create for a referral",
    catalogue.OperationKind.UPDATE: "update (`update`)",
    catalogue.OperationKind.UPLOAD: "upload files (`upload`)",
}
#: An example extension database, to show what every one of them offers.
_EXTENSION_EXAMPLE = f"{catalogue.EXTENSION_DATABASE}/wellcheck_notes"


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """MkDocs event: fill in the reference markers of a page."""
    if RESOURCES_MARKER in markdown:
        markdown = markdown.replace(RESOURCES_MARKER, render_resources())
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, render_cli())
    return markdown


# -- resources --------------------------------------------------------------------------


def _code_list(names: Iterable[str]) -> str:
    return ", ".join(f"`{n}`" for n in sorted(names)) or "none"


def _resource_section(resource: Resource, title: str, name: str | None = None) -> Iterator[str]:
    yield f"## {title}"
    yield ""
    yield from _operation_lines(resource, name or resource.name)
    if resource.filter_keys or resource.keys_complete:
        how = (
            "the complete list: another key is refused with the nearest valid one"
            if resource.keys_complete
            else "the documented keys; the list is not published whole, so any "
            "well-formed key is sent"
        )
        yield f"**Filter keys** ({how}): {_code_list(resource.filter_keys)}."
        yield ""
    if resource.extension_fields:
        yield (
            "**Extension fields**: single-record extension fields filter and select by their "
            "collaborator name. A name within two edits of a documented key is refused as a "
            "likely typo; `Query(..., strict=False)` (`--no-strict`) sends it anyway."
        )
        yield ""
    if resource.date_keys:
        yield f"**Date keys** (`date_range`, `--date`): {_code_list(resource.date_keys)}."
    elif not resource.date_keys_complete:
        yield "**Date keys**: not published; any well-formed key is accepted."
    elif resource.supports(catalogue.OperationKind.READ):
        yield "**Date keys**: none (a date range is refused)."
    yield ""
    if resource.required:
        fields = ", ".join(f"`{f}`" for f in resource.required)
        yield f"**Mandatory on create**: {fields}."
        yield ""
    if resource.optional:
        names = ", ".join(f"`{f}`" for f in resource.optional)
        yield f"**Optional on create** (wiki): {names}."
        yield ""
    if resource.read_only_reason:
        yield f"**No writes**: {resource.read_only_reason}"
        yield ""
    yield from _fields_lines(resource)


def _operation_lines(resource: Resource, name: str) -> Iterator[str]:
    """The operations table; a column for the wiki's method and path where they differ."""
    ops = list(resource.operations.values())
    differ = any(op.differs for op in ops)
    yield "| operation | method | path |" + (" wiki's method and path |" if differ else "")
    yield "|---|---|---|" + ("---|" if differ else "")
    for op in ops:
        row = (
            f"| {_KIND_TEXT.get(op.kind, op.kind.value.replace('_', ' '))} | `{op.method}` "
            f"| `{op.path.replace('{resource}', name)}` |"
        )
        if differ:
            wiki = op.wiki
            if op.differs:
                row += f" `{wiki.method}` `{wiki.path.replace('{resource}', name)}` |"
            else:
                row += " the same |"
        yield row
    yield ""
    if differ:
        yield (
            "The seed document and the wiki's entity pages disagree on some write verbs and "
            "paths; the client sends the seed's unless told to use the wiki's "
            "(see [Operations](operations.md))."
        )
        yield ""


def _fields_lines(resource: Resource) -> Iterator[str]:
    """The resource's fields and their types, where the catalogue records them."""
    fields = resource.fields
    if not fields:
        return
    yield "**Fields** (of a read; `flag` is `Y`/`N`, `id` a record or dictionary ID):"
    yield ""
    yield "| field | type | |"
    yield "|---|---|---|"
    for field in fields:
        joined = "read from a related record" if field.joined else ""
        yield f"| `{field.name}` | {field.kind.value} | {joined} |"
    yield ""


def render_resources() -> str:
    """The resource reference, as Markdown: one section per resource of the catalogue."""
    lines: list[str] = []
    for name, resource in catalogue.RESOURCES.items():
        lines.extend(_resource_section(resource, f"`{name}`"))
    example = catalogue.get_resource(_EXTENSION_EXAMPLE)
    path = f"{catalogue.EXTENSION_DATABASE}/{{api_name}}"
    lines.extend(_resource_section(example, "Extension databases", path))
    lines.append(
        f"An extension database is addressed as `{path}`: the API name set on the "
        'database record, as in `ExtensionDatabase("wellcheck_notes")`. The older rule, '
        "its name lower-cased with spaces as `_`, then `_` and its ID, is "
        '`ExtensionDatabase("Staff Disciplinary", 13)`: `staff_disciplinary_13`.'
    )
    return "\n".join(lines) + "\n"


# -- command line ---------------------------------------------------------------------------


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _help_markdown(text: str) -> Iterator[str]:
    """click help text as Markdown: ``\\b`` paragraphs (kept as typed) become code blocks."""
    for paragraph in inspect.cleandoc(text).split("\n\n"):
        lines = paragraph.splitlines()
        if lines and lines[0].strip() == "\b":
            yield "```text"
            yield from lines[1:]
            yield "```"
        else:
            yield " ".join(line.strip() for line in lines)
        yield ""


def _command_section(
    command: click.Command, path: list[str], parent: click.Context | None
) -> Iterator[str]:
    ctx = click.Context(command, info_name=path[-1], parent=parent)
    yield f"{'#' * min(len(path) + 1, 4)} `{' '.join(path)}`"
    yield ""
    yield "```text"
    yield f"{' '.join(path)} {' '.join(command.collect_usage_pieces(ctx))}".rstrip()
    yield "```"
    yield ""
    yield from _help_markdown(command.help or "")
    # Arguments are in the usage line, and every command has the same --help.
    options = [p for p in command.get_params(ctx) if isinstance(p, click.Option)]
    rows = [r for p in options if p.name != "help" and (r := p.get_help_record(ctx))]
    if rows:
        yield "| option | description |"
        yield "|---|---|"
        for opts, description in rows:
            yield f"| `{_cell(opts)}` | {_cell(description)} |"
        yield ""
    if isinstance(command, click.Group):
        for name in sorted(command.list_commands(ctx)):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from _command_section(sub, [*path, name], ctx)


def render_cli() -> str:
    """The command-line reference, as Markdown, from the ``dizions`` click group."""
    from dizions_async.cli._app import app

    return "\n".join(_command_section(app, ["dizions"], None)) + "\n"
