"""dizions_async: an async Python SDK for the Dizions API (Charitylog, Crossdata).

The public names are re-exported here; everything else is an implementation detail.
"""

from __future__ import annotations

from dizions_async._config import Timeouts
from dizions_async._version import __version__ as __version__
from dizions_async._writes import UploadResult
from dizions_async.client import Client
from dizions_async.query import ExtensionDatabase, Query
from dizions_async.results import DictionaryEntry, Report
from dizions_async.retry import RetryPolicy
from dizions_async.transport import MockTransport

__all__ = [
    "Client",
    "DictionaryEntry",
    "ExtensionDatabase",
    "MockTransport",
    "Query",
    "Report",
    "RetryPolicy",
    "Timeouts",
    "UploadResult",
]
