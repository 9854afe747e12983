"""A fake Dizions API server for tests: stateful, seeded, over real HTTP on loopback.

``async with FakeDizions(clients=500, seed=1) as fake:`` serves the wire format of the API
(see ``API.md``) at ``fake.url`` and accepts only ``fake.keys``. It is backed by SQLite
(in memory, or a file with ``db_path=`` so data survives restarts) and seeded with
deterministic synthetic data. ``fake.requests`` logs every request (keys masked),
``fake.store`` reads the data directly (until the server stops: after ``stop()`` it raises
``RuntimeError``), and ``fake.faults.set(...)`` injects latency, 429s, 503s, dropped
connections and commit-then-fail writes (a read is never hit by commit-then-fail: it has
nothing to commit; it is answered normally). ``dizions serve --fault`` sets the same rules
from the command line.

Choices where the API document is silent:

- A second create with an external ID that a client already has (``PUT
  /v2/clients/external_id/{EXT}``, or ``external_id`` in a create body) answers ``400``
  ``{"error": "external_id '...' already exists", "id": <existing id>}`` and writes nothing.
- Unknown body fields answer 400 (the real API may ignore them; refusing catches typos).
- ``PUT /v2/external_referral`` with a JSON array stages every person (all or none) and
  answers ``{"id": <first>, "ids": [...]}``; uploads answer the same shape. An upload is
  all or none: one refused or cut off part way leaves no file on disk and no row.
- A client's relationships are read with the wiki's ``relationship_details`` field
  (``[{"id", "relationship", "major", "send_one_letter_to_both", "joint_address"}]``)
  and ``carer_relationship_details`` (``[{"id", "relationship"}]``), each seen from
  both clients; ``PUT /v2/relationship_details/{A}/{B}`` replaces the pair's one.
- ``write_verbs="seed" | "wiki" | "both"`` (default ``both``) says which write-verb
  convention it takes; the other's verb answers 405 and does nothing. With
  ``branches=True`` a referral create needs ``branch``.
- ``GET /v2/business/configuration`` (the key test) answers ``{"name", "system",
  "uses_branches"}``; ``/v2/{resource}/friendly_names`` answers field -> label.
- ``/v2/dictionary`` answers every entry with its ``group`` and ``table``.

Speed: the same read (same raw path and query string) is answered from a cache of the
bytes sent until the data changes (any write, through the API or into the store's
database, empties it), so a client benchmark measures the client, not SQLite.

The pytest plugin (``dizions_async.testing.plugin``) provides a ``fake_dizions`` fixture.
"""

from __future__ import annotations

from dizions_async.testing._fake import FakeDizions, keys_from_seed
from dizions_async.testing._faults import FaultConfig, Faults
from dizions_async.testing._server import Keys, LoggedRequest
from dizions_async.testing._store import Store

__all__ = [
    "FakeDizions",
    "FaultConfig",
    "Faults",
    "Keys",
    "LoggedRequest",
    "Store",
    "keys_from_seed",
]
