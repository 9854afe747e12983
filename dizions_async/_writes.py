"""Writes, before any I/O: field encoding, checks, mandatory fields, bodies and paths.

Every create, update, relationship, completion, external referral and upload goes through
this module first. It turns (resource, fields) into a :class:`PreparedWrite` (method,
percent-encoded path, body bytes, content type) or a :class:`PreparedUpload`, and raises
:class:`~dizions_async.errors.ValidationError` naming the field for anything the server
would refuse or misread, so nothing is sent in those cases. It knows the body wire format
of API.md's [assumed] section and keeps it in one place:

- bodies are ``application/x-www-form-urlencoded`` (``urllib.parse.urlencode``);
  a list of external referrals is a JSON array of people, and a relationship
  (``relationship_details``) a JSON array of one object, as the wiki shows;
- ``True``/``False`` are ``Y``/``N``; dates and datetimes are ISO 8601; a list of IDs is
  comma-separated; ``None`` means "leave unset" and is not sent.

Nothing here imports aiohttp or touches the network; :func:`prepare_upload` only looks
at the local files named (does each exist, is it a regular, readable file) and
:func:`open_upload` opens them into a ``protocol.Multipart``, which the transport streams.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import mimetypes
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, BinaryIO
from urllib.parse import urlencode

import attrs
import orjson

from dizions_async._redact import described, shown
from dizions_async.catalogue import (
    KEY_PATTERN,
    RELATIONSHIP_DETAILS,
    OperationKind,
    Resource,
    WriteVerbs,
    get_resource,
    operation_path,
)
from dizions_async.errors import QueryError, ValidationError
from dizions_async.protocol import (
    FORM_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    FilePart,
    Multipart,
    scalar_text,
)

__all__ = [
    "FORM",
    "JSON",
    "UPLOAD_FILE_FIELD",
    "FieldValue",
    "Fields",
    "FileSource",
    "PreparedUpload",
    "PreparedWrite",
    "UploadFile",
    "UploadResult",
    "check_record_id",
    "encode_fields",
    "encode_value",
    "form_body",
    "open_upload",
    "prepare_complete_contact",
    "prepare_create",
    "prepare_create_client",
    "prepare_done_contact",
    "prepare_due_contact",
    "prepare_external_referral",
    "prepare_relationship",
    "prepare_set_relationship",
    "prepare_update",
    "prepare_upload",
    "resource_name",
]

FORM = FORM_CONTENT_TYPE
JSON = JSON_CONTENT_TYPE
#: Multipart field name of each uploaded file [assumed]: PHP-style, so several files
#: arrive as one list on the server.
UPLOAD_FILE_FIELD = "files[]"

#: What a field value may be. ``None`` leaves the field unset (it is not sent).
FieldValue = int | str | bool | dt.date | dt.datetime | Iterable[int | str] | None
#: The fields of a write. Values are checked when the write is prepared, so any object is
#: accepted by the type; see :data:`FieldValue` for what may be sent.
Fields = Mapping[str, object]
#: An upload's file: a path, or a binary file object open for reading.
FileSource = str | os.PathLike[str] | BinaryIO | IO[bytes]

#: Fields completing a contact (and any write carrying both) must not end before they start.
_START, _END = "start_date", "end_date"
_RELATION_PAIR = ("relationship_first_to_second", "relationship_second_to_first")
_CARER_PAIR = ("relationship_first_to_second_carer", "relationship_second_to_first_carer")
_RELATION_FIELDS = ("id_second", *_RELATION_PAIR, *_CARER_PAIR)
_UPLOAD_RESOURCES = ("clients", "referrals")


@attrs.frozen
class PreparedWrite:
    """A checked write, ready to become a ``protocol.Request`` (always non-idempotent).

    Attributes:
        method: as the write-verb convention says (seed: ``PUT`` creates, ``POST``
            updates; wiki: mostly the reverse; see the catalogue).
        path: percent-encoded, beginning ``/v2/``.
        body: the encoded fields.
        content_type: :data:`FORM`, or :data:`JSON` for a list of external referrals
            and for a relationship.
        kind: which catalogue operation this is.
        resource: the resource's path name, e.g. ``clients``.
    """

    method: str
    path: str
    body: bytes
    content_type: str
    kind: OperationKind
    resource: str


@attrs.frozen
class UploadFile:
    """One file of an upload, checked but not yet opened.

    Attributes:
        source: a :class:`~pathlib.Path`, or the caller's binary file object (never
            closed by the SDK).
        filename: the name the server stores the file under.
        content_type: guessed from the filename; ``application/octet-stream`` otherwise.
    """

    source: Path | IO[bytes]
    filename: str
    content_type: str


@attrs.frozen
class PreparedUpload:
    """A checked upload: the path, the form fields and the files (not yet opened).

    Attributes:
        path: ``/v2/{clients|referrals}/id/{ID}/uploads``.
        fields: ``user_visibility`` and ``group_visibility``, comma-separated IDs.
        files: the files, in the order given.
        resource: ``clients`` or ``referrals``.
    """

    path: str
    fields: tuple[tuple[str, str], ...]
    files: tuple[UploadFile, ...]
    resource: str

    method: str = "POST"


@attrs.frozen
class UploadResult:
    """What an upload stored.

    Attributes:
        ids: the server's ID of each stored file, in the order the files were given.
        filenames: the name each file was sent under, in the same order.
    """

    ids: tuple[int, ...]
    filenames: tuple[str, ...]


# -- values -----------------------------------------------------------------------------


def _type_error(key: str, value: object) -> ValidationError:
    return ValidationError(
        f"field {key!r} has a value of type {type(value).__name__}, which cannot be sent; "
        "use int, str, bool, date, datetime, a list of IDs, or None to leave it unset",
        field=key,
    )


def _id_text(key: str, item: object) -> str:
    if isinstance(item, bool) or not isinstance(item, (int, str)):
        raise ValidationError(
            f"field {key!r} is a list, so it takes record IDs (int); got {described(item)}",
            field=key,
        )
    text = int.__repr__(item) if isinstance(item, int) else str.__str__(item)
    if not text.isdigit():
        raise ValidationError(
            f"field {key!r} is a list, so it takes non-negative record IDs; got {described(item)}",
            field=key,
        )
    return text


def encode_value(key: str, value: object) -> str | None:
    """One field value as the text the API expects; None for "leave unset".

    Args:
        key: the field name, for messages.
        value: int, str, bool (``Y``/``N``), date or datetime (ISO 8601), a list, tuple or
            set of record IDs (comma-separated; a set is sorted), or None.

    Returns:
        The text to send, or None when the field must not be sent.

    Raises:
        ValidationError: a value of a type that cannot be sent (float, bytes, dict, ...),
            or a list holding something other than IDs, or an empty list.

    >>> encode_value("active", True), encode_value("date", dt.date(2018, 11, 8))
    ('Y', '2018-11-08')
    """
    if value is None:
        return None
    text = scalar_text(value)
    if text is not None:
        if not text.isascii():
            _check_unicode(key, text)
        return text
    if isinstance(value, (list, tuple, set, frozenset)):
        items: Iterable[object] = sorted(value) if isinstance(value, (set, frozenset)) else value
        texts = [_id_text(key, item) for item in items]
        if not texts:
            raise ValidationError(
                f"field {key!r} is an empty list; pass None to leave it unset", field=key
            )
        return ",".join(texts)
    raise _type_error(key, value)


def _check_unicode(key: str, text: str) -> None:
    # A lone surrogate cannot be encoded, so it would fail at send time, as a raw error.
    try:
        text.encode()
    except UnicodeEncodeError:
        raise ValidationError(
            f"field {key!r} holds text that is not valid Unicode (a lone surrogate)", field=key
        ) from None


def _check_key(key: object) -> str:
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise ValidationError(
            f"field name {key!r} is not an identifier (lower-case letters, digits and _, "
            "starting with a letter)",
            field=key if isinstance(key, str) else None,
        )
    return key


def encode_fields(fields: Mapping[str, object]) -> tuple[tuple[str, str], ...]:
    """Check every key and encode every value, dropping the ``None`` ones, keeping order.

    Raises:
        ValidationError: ``fields`` is not a mapping, a key is not an identifier, or a
            value cannot be sent (see :func:`encode_value`).
    """
    if not isinstance(fields, Mapping):
        raise ValidationError(
            f"fields must be a mapping of field name to value, got {type(fields).__name__}"
        )
    out: list[tuple[str, str]] = []
    for key, value in fields.items():
        text = encode_value(_check_key(key), value)
        if text is not None:
            out.append((key, text))
    return tuple(out)


def form_body(pairs: Iterable[tuple[str, str]]) -> bytes:
    """The ``application/x-www-form-urlencoded`` body of encoded pairs (UTF-8)."""
    return urlencode(list(pairs)).encode("ascii")


# -- checks -----------------------------------------------------------------------------


def _when(key: str, value: object) -> dt.date:
    """A start or end as a date or datetime, for ordering them."""
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        parse = dt.datetime.fromisoformat if len(value) > 10 else dt.date.fromisoformat
        try:
            return parse(value)
        except ValueError:
            pass
    raise ValidationError(
        f"field {key!r} must be a date, a datetime or an ISO 8601 string, got {described(value)}",
        field=key,
    )


def _day(value: dt.date) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _check_order(fields: Mapping[str, object]) -> None:
    """Refuse an ``end_date`` before its ``start_date`` when both are present."""
    start, end = fields.get(_START), fields.get(_END)
    if start is None or end is None:
        return
    first, last = _when(_START, start), _when(_END, end)
    if isinstance(first, dt.datetime) and isinstance(last, dt.datetime):
        if (first.tzinfo is None) != (last.tzinfo is None):
            raise ValidationError(
                f"{_START!r} and {_END!r} mix a timezone-aware and a naive datetime",
                field=_END,
            )
        before = last < first
    else:
        # A plain date is a whole day: compare days when either side is one.
        before = _day(last) < _day(first)
    if before:
        raise ValidationError(
            f"{_END!r} {shown(end)} is before {_START!r} {shown(start)}", field=_END
        )


def _check_required(resource: Resource, pairs: Sequence[tuple[str, str]], what: str) -> None:
    present = {key for key, text in pairs if text != ""}
    missing = [name for name in resource.required if name not in present]
    if missing:
        raise ValidationError(
            f"{what} needs {', '.join(map(repr, missing))} (mandatory: "
            f"{', '.join(resource.required)}); None and '' count as missing",
            field=missing[0],
        )


def _check_no_id(fields: Mapping[str, object]) -> None:
    if fields.get("id") is not None:
        raise ValidationError(
            "field 'id' cannot be written: the record ID goes in the path, not the body",
            field="id",
        )


def _check_relationship(fields: Mapping[str, object]) -> None:
    """A client update relating two clients needs id_second and the standard pair."""
    given = [name for name in _RELATION_FIELDS if fields.get(name) is not None]
    if not given:
        return
    for name in ("id_second", *_RELATION_PAIR):
        if fields.get(name) is None:
            raise ValidationError(
                f"a relationship needs 'id_second', {_RELATION_PAIR[0]!r} and "
                f"{_RELATION_PAIR[1]!r} (the carer pair only with them); {name!r} is missing",
                field=name,
            )


def check_record_id(value: object, name: str = "id") -> int:
    """A record ID: a non-negative int (not a bool).

    Raises:
        ValidationError: anything else.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        # IDs are structure, not personal data: a bad int is shown, anything else is not.
        got = repr(value) if isinstance(value, int) else described(value)
        raise ValidationError(f"{name} must be a non-negative int, got {got}", field=name)
    return int(value)


def resource_name(resource: object) -> str:
    """The path name of ``resource``: a str, or anything with a ``.resource`` str
    (an :class:`~dizions_async.query.ExtensionDatabase`)."""
    name = getattr(resource, "resource", resource)
    if not isinstance(name, str):
        raise ValidationError(
            "resource must be a name such as 'clients' or an ExtensionDatabase, "
            f"got {described(resource)}"
        )
    return name


def _resource(resource: object, kind: OperationKind) -> Resource:
    name = resource_name(resource)
    try:
        spec = get_resource(name)
        spec.operation(kind)
    except QueryError as exc:
        raise ValidationError(str(exc)) from None
    return spec


def _write(
    spec: Resource,
    kind: OperationKind,
    pairs: Sequence[tuple[str, str]],
    verbs: WriteVerbs,
    **values: object,
) -> PreparedWrite:
    return _prepared(spec, kind, form_body(pairs), FORM, verbs, **values)


def _prepared(
    spec: Resource,
    kind: OperationKind,
    body: bytes,
    content_type: str,
    verbs: WriteVerbs,
    **values: object,
) -> PreparedWrite:
    # The convention is data: the catalogue holds each operation's method and path in both.
    return PreparedWrite(
        method=spec.operation(kind).shape(verbs).method,
        path=operation_path(spec, kind, verbs, **values),
        body=body,
        content_type=content_type,
        kind=kind,
        resource=spec.name,
    )


# -- creates and updates ----------------------------------------------------------------


def prepare_create(
    resource: object, fields: Mapping[str, object], verbs: WriteVerbs = "seed"
) -> PreparedWrite:
    """A create of one record on ``resource`` (PUT in the seed convention, POST in the wiki's).

    Args:
        resource: ``clients``, ``referrals``, ``external_referral`` or an extension
            database (``extension_database/{slug}`` or an ``ExtensionDatabase``).
        fields: field name to value; see :func:`encode_value`.
        verbs: the write-verb convention, ``"seed"`` or ``"wiki"``.

    Returns:
        The checked write.

    Raises:
        ValidationError: the resource is unknown or has no plain create (due contacts are
            created for a referral; done contacts by completing one), a mandatory field
            is missing, a key or value is wrong, an end is before its start, or ``id``
            is given.
    """
    spec = _resource(resource, OperationKind.CREATE)
    return _create(spec, fields, OperationKind.CREATE, verbs)


def _create(
    spec: Resource,
    fields: Mapping[str, object],
    kind: OperationKind,
    verbs: WriteVerbs,
    **values: object,
) -> PreparedWrite:
    return _write(spec, kind, _create_pairs(spec, fields), verbs, **values)


def _create_pairs(spec: Resource, fields: Mapping[str, object]) -> tuple[tuple[str, str], ...]:
    pairs = encode_fields(fields)
    _check_no_id(fields)
    _check_required(spec, pairs, f"a create on {spec.name!r}")
    _check_order(fields)
    return pairs


def prepare_update(
    resource: object,
    record_id: int,
    fields: Mapping[str, object],
    verbs: WriteVerbs = "seed",
    kind: OperationKind = OperationKind.UPDATE,
) -> PreparedWrite:
    """An update of record ``record_id`` on ``resource`` (POST in the seed convention, PUT
    in the wiki's for clients, referrals and done contacts).

    Raises:
        ValidationError: the resource is unknown or read only, the ID is not a
            non-negative int, no field is left to send once the ``None`` ones are dropped,
            a key or value is wrong, an end is before its start, ``id`` is in the fields,
            or (clients) relationship fields come without ``id_second`` and the pair.
    """
    spec = _resource(resource, kind)
    rid = check_record_id(record_id)
    pairs = encode_fields(fields)
    _check_no_id(fields)
    if not pairs:
        raise ValidationError(
            f"an update of {spec.name} {rid} has no field to send (None values are not sent)"
        )
    _check_order(fields)
    if spec.name == "clients":
        _check_relationship(fields)
    return _write(spec, kind, pairs, verbs, id=rid)


def prepare_create_client(
    fields: Mapping[str, object],
    external_id: str | int | None = None,
    verbs: WriteVerbs = "seed",
) -> PreparedWrite:
    """A client create, by external ID (``PUT /v2/clients/external_id/{EXT}``) when given.

    Raises:
        ValidationError: as :func:`prepare_create`; an empty or non-str/int external ID;
            an ``external_id`` field that differs from the argument.
    """
    spec = get_resource("clients")
    if external_id is None:
        return _create(spec, fields, OperationKind.CREATE, verbs)
    if isinstance(external_id, bool) or not isinstance(external_id, (str, int)):
        raise ValidationError(
            f"external_id must be a str or int, got {type(external_id).__name__}",
            field="external_id",
        )
    ext = encode_value("external_id", external_id)
    if not ext or not ext.strip():
        raise ValidationError("external_id must not be empty", field="external_id")
    in_body = fields.get("external_id") if isinstance(fields, Mapping) else None
    if in_body is not None and encode_value("external_id", in_body) != ext:
        raise ValidationError(
            f"fields carry external_id {shown(in_body)}, which differs from the "
            f"external_id argument {shown(ext)}",
            field="external_id",
        )
    return _create(spec, fields, OperationKind.CREATE_BY_EXTERNAL_ID, verbs, external_id=ext)


def prepare_due_contact(
    referral_id: int, fields: Mapping[str, object], verbs: WriteVerbs = "seed"
) -> PreparedWrite:
    """A due contact (an incomplete action) for a referral: ``{PUT|POST}
    /v2/due_contacts/referral/{ID}``.

    Raises:
        ValidationError: a bad referral ID; user, start_date, end_date or description
            missing; an end before its start; a key or value that cannot be sent.
    """
    return _contact_for_referral("due_contacts", referral_id, fields, verbs)


def prepare_done_contact(
    referral_id: int, fields: Mapping[str, object], verbs: WriteVerbs = "seed"
) -> PreparedWrite:
    """A done contact (a completed action) for a referral: ``POST
    /v2/done_contacts/referral/{ID}`` in the wiki convention (API_done_contacts), ``PUT``
    in the seed's (by analogy with due contacts: the seed documents no such create).

    Raises:
        ValidationError: a bad referral ID; user, stage, start_date, end_date or
            description missing; an end before its start; a key or value that cannot be
            sent.
    """
    return _contact_for_referral("done_contacts", referral_id, fields, verbs)


def _contact_for_referral(
    resource: str, referral_id: int, fields: Mapping[str, object], verbs: WriteVerbs
) -> PreparedWrite:
    rid = check_record_id(referral_id, "referral_id")
    spec = get_resource(resource)
    return _create(spec, fields, OperationKind.CREATE_FOR_REFERRAL, verbs, referral=rid)


def prepare_complete_contact(
    contact_id: int,
    start: object,
    end: object,
    fields: Mapping[str, object],
    verbs: WriteVerbs = "seed",
) -> PreparedWrite:
    """Complete a due contact: ``POST /v2/done_contacts/id/{ID}`` (seed) or ``POST
    /v2/done_contacts/{ID}`` (wiki) with start_date and end_date.

    Raises:
        ValidationError: a bad contact ID; start or end missing, not a date, datetime or
            ISO string, or the end before the start; start_date or end_date also in
            ``fields``; a key or value that cannot be sent.
    """
    for name in (_START, _END):
        if name in fields:
            raise ValidationError(
                f"pass {name!r} as the start/end argument, not in the fields", field=name
            )
    for name, value in ((_START, start), (_END, end)):
        if value is None or value == "":
            raise ValidationError(f"completing a contact needs {name!r}", field=name)
        _when(name, value)
    body = {_START: start, _END: end, **fields}
    return prepare_update("done_contacts", contact_id, body, verbs, OperationKind.COMPLETE)


def prepare_relationship(
    first_id: int,
    second_id: int,
    first_to_second: int,
    second_to_first: int,
    *,
    carer_first_to_second: int | None = None,
    carer_second_to_first: int | None = None,
    verbs: WriteVerbs = "seed",
) -> PreparedWrite:
    """Relate two clients the seed's way: an update of ``first_id`` carrying id_second and
    the relationships.

    The relationship IDs come from ``/dictionary/relationships``; the carer ones from
    ``/dictionary/carer_relationships``.

    Raises:
        ValidationError: an ID that is not a non-negative int, or a client related to itself.
    """
    first, second = _two_clients(first_id, second_id, "id_second")
    names = (*_RELATION_PAIR, *_CARER_PAIR)
    values = (first_to_second, second_to_first, carer_first_to_second, carer_second_to_first)
    for name, value in zip(names, values, strict=True):
        if value is not None or name in _RELATION_PAIR:
            check_record_id(value, name)
    fields: dict[str, object] = {"id_second": second, **dict(zip(names, values, strict=True))}
    return prepare_update("clients", first, fields, verbs)


def _two_clients(first_id: object, second_id: object, second_name: str) -> tuple[int, int]:
    first = check_record_id(first_id, "first_id")
    second = check_record_id(second_id, second_name)
    if first == second:
        raise ValidationError(f"client {first} cannot be related to itself", field=second_name)
    return first, second


def prepare_set_relationship(
    first_id: int,
    second_id: int,
    *,
    first_to_second: int,
    second_to_first: int,
    major: bool | None = None,
    send_one_letter_to_both: bool | None = None,
    joint_address: str | None = None,
    carer_first_to_second: int | None = None,
    carer_second_to_first: int | None = None,
) -> PreparedWrite:
    """Relate two clients through their own endpoint (API_relationships):
    ``PUT /v2/relationship_details/{first_id}/{second_id}`` with a JSON array of one object.

    Raises:
        ValidationError: an ID that is not a non-negative int, a client related to itself,
            one carer relationship without the other, a value that cannot be sent.
    """
    first, second = _two_clients(first_id, second_id, "second_id")
    carers = (carer_first_to_second, carer_second_to_first)
    if (carers[0] is None) != (carers[1] is None):
        raise ValidationError(
            "a carer relationship needs both carer_first_to_second and carer_second_to_first",
            field="carer_first_to_second" if carers[0] is None else "carer_second_to_first",
        )
    given: dict[str, object] = {
        "relation_first_to_second": check_record_id(first_to_second, "first_to_second"),
        "relation_second_to_first": check_record_id(second_to_first, "second_to_first"),
        "major": major,
        "send_one_letter_to_both": send_one_letter_to_both,
        "joint_address": joint_address,
        "carer_relation_first_to_second": carers[0]
        if carers[0] is None
        else check_record_id(carers[0], "carer_first_to_second"),
        "carer_relation_second_to_first": carers[1]
        if carers[1] is None
        else check_record_id(carers[1], "carer_second_to_first"),
    }
    body = orjson.dumps([dict(encode_fields(given))])
    spec = get_resource(RELATIONSHIP_DETAILS)
    # The same method and path in both conventions: the wiki alone documents it.
    return _prepared(spec, OperationKind.RELATE, body, JSON, "seed", first=first, second=second)


_PERSON_LINKS = ("relationships", "carer_relationships")


def prepare_external_referral(
    person_or_people: Mapping[str, object] | Sequence[Mapping[str, object]],
    verbs: WriteVerbs = "seed",
) -> PreparedWrite:
    """An external referral to the staging area: ``PUT /v2/external_referral``.

    One person (a mapping) is sent form-encoded; a list of people (even of one) is sent as
    one JSON array, each person's values encoded as for a form. In a list, a person may
    carry ``relationships`` and ``carer_relationships``: a mapping from another person's
    zero-based position in the list to a relationship ID (API:_External_Referrals). They
    go in pairs: if person 1 names person 0, person 0 must name person 1.

    Raises:
        ValidationError: org_type_id, surname or description missing (the message says
            which person, by index); an empty list; a key or value that cannot be sent;
            a relationship to a position out of range, to the person itself, or without
            its pair; relationships on a single person (a mapping).
    """
    spec = get_resource("external_referral")
    if isinstance(person_or_people, Mapping):
        for name in _PERSON_LINKS:
            if person_or_people.get(name) is not None:
                raise ValidationError(
                    f"{name!r} refer to other people of the same referral by position: "
                    "pass a list of people",
                    field=name,
                )
        return _create(spec, person_or_people, OperationKind.CREATE, verbs)
    if isinstance(person_or_people, (str, bytes)) or not isinstance(person_or_people, Sequence):
        raise ValidationError(
            "external_referral takes one person (a mapping of fields) or a list of them"
        )
    if not person_or_people:
        raise ValidationError("external_referral was given an empty list of people")
    people: list[dict[str, object]] = []
    links: dict[str, list[dict[int, int]]] = {name: [] for name in _PERSON_LINKS}
    for index, person in enumerate(person_or_people):
        try:
            if not isinstance(person, Mapping):
                raise ValidationError(f"a person is a mapping of fields, got {described(person)}")
            plain = {k: v for k, v in person.items() if k not in _PERSON_LINKS}
            entry: dict[str, object] = dict(_create_pairs(spec, plain))
            for name in _PERSON_LINKS:
                own = _links(name, person.get(name), index, len(person_or_people))
                links[name].append(own)
                if own:
                    entry[name] = {str(k): str(v) for k, v in own.items()}
        except ValidationError as exc:
            raise ValidationError(f"person {index}: {exc}", field=exc.field) from None
        people.append(entry)
    for name, table in links.items():
        _check_pairs(name, table)
    return _prepared(spec, OperationKind.CREATE, orjson.dumps(people), JSON, verbs)


def _links(name: str, value: object, index: int, count: int) -> dict[int, int]:
    """One person's ``relationships``: other position -> relationship ID, checked."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError(
            f"{name!r} must map another person's position (0-based) to a relationship ID",
            field=name,
        )
    out: dict[int, int] = {}
    for other, relation in value.items():
        position = check_record_id(other, f"{name} position")
        if position >= count:
            raise ValidationError(
                f"{name!r} names person {position}, but the list has {count} (0 to {count - 1})",
                field=name,
            )
        if position == index:
            raise ValidationError(f"{name!r} relates the person to itself", field=name)
        out[position] = check_record_id(relation, f"{name} relationship")
    return out


def _check_pairs(name: str, table: Sequence[Mapping[int, int]]) -> None:
    for index, own in enumerate(table):
        for other in own:
            if index not in table[other]:
                raise ValidationError(
                    f"person {index}: {name!r} names person {other}, but person {other} has "
                    f"no {name!r} entry for person {index}; relationships go in pairs",
                    field=name,
                )


# -- uploads ----------------------------------------------------------------------------


def _visibility(name: str, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, list, tuple, set, frozenset)):
        raise ValidationError(
            f"{name} takes a group/user ID or a list of them, got {described(value)}", field=name
        )
    text = encode_value(name, [value] if isinstance(value, int) else value)
    assert text is not None  # a list is never "unset"
    return text


def _upload_file(source: object, index: int) -> UploadFile:
    label = f"files[{index}]"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            problem = _path_problem(path)
        except (OSError, ValueError) as exc:  # a name too long, a NUL, a lone surrogate
            problem = f"cannot be used as a path ({type(exc).__name__})"
        if problem:
            raise ValidationError(f"{label}: {shown(str(path))} {problem}", field="files")
        filename = _upload_name(path.name, index)
        return UploadFile(path, filename, _content_type(filename))
    if not callable(getattr(source, "read", None)):
        raise ValidationError(
            f"{label}: expected a path or a binary file object, got {type(source).__name__}",
            field="files",
        )
    if isinstance(source, io.TextIOBase):
        raise ValidationError(
            f"{label}: the file object is in text mode; open it with 'rb'", field="files"
        )
    if getattr(source, "closed", False):
        raise ValidationError(f"{label}: the file object is closed", field="files")
    readable = getattr(source, "readable", None)
    if callable(readable) and not readable():
        raise ValidationError(f"{label}: the file object is not open for reading", field="files")
    name = getattr(source, "name", None)
    filename = _upload_name(name, index) if isinstance(name, str) else f"upload-{index}"
    stream: IO[bytes] = source  # type: ignore[assignment]
    return UploadFile(stream, filename, _content_type(filename))


_CONTROL = re.compile("[\x00-\x1f\x7f]")


def _upload_name(name: str, index: int) -> str:
    """The name a file is stored under: its base name, cut at the last ``/`` or ``\\``
    (a Windows path is cut too, wherever this runs), ``upload-N`` when nothing is left.

    Raises:
        ValidationError: the name holds a control character (no header can carry one).
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if _CONTROL.search(base):
        raise ValidationError(
            f"files[{index}]: the file name holds a control character; rename the file",
            field="files",
        )
    return base if base not in ("", ".", "..") else f"upload-{index}"


def _path_problem(path: Path) -> str | None:
    if not path.exists():
        return "does not exist"
    if not path.is_file():
        return "is not a regular file"
    if not os.access(path, os.R_OK):
        return "is not readable"
    return None


def _content_type(filename: str) -> str:
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"


def prepare_upload(
    resource: object,
    record_id: int,
    files: FileSource | Sequence[FileSource],
    *,
    user_visibility: int | Iterable[int],
    group_visibility: int | Iterable[int],
) -> PreparedUpload:
    """An upload of files against a client or referral: ``POST .../id/{ID}/uploads``.

    Args:
        resource: ``clients`` or ``referrals``.
        record_id: the client's or referral's ID.
        files: one path or binary file object, or a list of them.
        user_visibility: user ID(s) who may see the files (sent comma-separated).
        group_visibility: group ID(s) who may see the files (sent comma-separated).

    Returns:
        The checked upload; open its files with :func:`open_upload`.

    Raises:
        ValidationError: another resource, a bad ID or visibility, no files, a path that
            does not exist, is not a regular file or is not readable, a text-mode, closed
            or write-only file object.
    """
    name = resource_name(resource)
    if name not in _UPLOAD_RESOURCES:
        raise ValidationError(f"uploads go to clients or referrals, not {name!r}")
    spec = _resource(name, OperationKind.UPLOAD)
    rid = check_record_id(record_id)
    if isinstance(files, (str, os.PathLike)) or callable(getattr(files, "read", None)):
        sources: list[object] = [files]
    elif isinstance(files, Iterable):
        sources = list(files)
    else:
        raise ValidationError(
            f"files must be a path, a binary file object or a list of them, got {described(files)}",
            field="files",
        )
    if not sources:
        raise ValidationError("an upload needs at least one file", field="files")
    checked = tuple(_upload_file(source, i) for i, source in enumerate(sources))
    fields = (
        ("user_visibility", _visibility("user_visibility", user_visibility)),
        ("group_visibility", _visibility("group_visibility", group_visibility)),
    )
    path = operation_path(spec, OperationKind.UPLOAD, id=rid)
    return PreparedUpload(path=path, fields=fields, files=checked, resource=spec.name)


def open_upload(upload: PreparedUpload, stack: contextlib.ExitStack) -> Multipart:
    """The upload's multipart body: its paths opened (closed by ``stack``), each stream's
    start noted so a resend can rewind it.

    The caller's own file objects are used as they are, from their current position,
    and never closed here.

    Raises:
        ValidationError: a path can no longer be opened for reading.
    """
    parts: list[FilePart] = []
    for index, item in enumerate(upload.files):
        if isinstance(item.source, Path):
            try:
                stream: IO[bytes] = stack.enter_context(item.source.open("rb"))
            except OSError as exc:
                raise ValidationError(
                    f"files[{index}]: {shown(str(item.source))} cannot be read ({exc.strerror})",
                    field="files",
                ) from None
        else:
            stream = item.source
        parts.append(
            FilePart(UPLOAD_FILE_FIELD, item.filename, item.content_type, stream, _offset(stream))
        )
    return Multipart(upload.fields, tuple(parts))


def _offset(stream: IO[bytes]) -> int | None:
    seekable = getattr(stream, "seekable", None)
    try:
        if callable(seekable) and not seekable():
            return None
        return stream.tell()
    except (OSError, ValueError, AttributeError):
        return None
