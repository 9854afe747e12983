"""The ``dizions`` command line: a click group whose commands live in sibling modules.

click and rich come with the ``cli`` extra; without them ``dizions`` says how to get them.
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``dizions`` console script."""
    try:
        from dizions_async.cli._app import app
    except ImportError as exc:  # click or rich missing
        print(
            f"dizions: the command line needs the 'cli' extra ({exc.name} is missing): "
            'pip install "dizions_async[cli]"',
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    app.main(args=argv, prog_name="dizions")
