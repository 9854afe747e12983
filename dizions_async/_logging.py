"""The SDK's logger, ``dizions_async``, and the ``DIZIONS_LOG`` switch.

The logger carries a ``NullHandler``, as a library's should: nothing is printed unless
the application configures logging or ``DIZIONS_LOG`` is set (without it, Python's
last-resort handler would print warnings, such as retries, to stderr).

Nothing here formats secrets: callers pass redacted labels only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

__all__ = ["ENV_LOG", "configure_from_env", "logger"]

ENV_LOG = "DIZIONS_LOG"
logger = logging.getLogger("dizions_async")
logger.addHandler(logging.NullHandler())
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}


def configure_from_env(env: Mapping[str, str]) -> None:
    """Turn logging on when ``DIZIONS_LOG`` is ``debug`` or ``info``.

    Sets the logger's level and, if nobody has attached a real handler (ours is a
    ``NullHandler``), adds one writing to stderr. Leaves everything alone when the
    variable is absent.
    """
    level = _LEVELS.get(env.get(ENV_LOG, "").strip().lower())
    if level is None:
        return
    logger.setLevel(level)
    if all(isinstance(h, logging.NullHandler) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
