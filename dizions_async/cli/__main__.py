"""``python -m dizions_async.cli``: the same as the ``dizions`` console script."""

from __future__ import annotations

from dizions_async.cli import main

if __name__ == "__main__":
    main()
