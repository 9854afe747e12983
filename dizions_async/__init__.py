"""dizions_async: an async Python SDK for the Dizions API (Charitylog, Crossdata).

The public names are re-exported here; everything else is an implementation detail.
"""

from __future__ import annotations

from dizions_async.query import ExtensionDatabase, Query

__all__ = ["ExtensionDatabase", "Query"]
__version__ = "0.1.0.dev0"
