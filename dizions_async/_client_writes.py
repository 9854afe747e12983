"""The client's write methods: create, update, the named helpers and upload.

A mixin over :class:`~dizions_async._core._ClientCore`. Every check, body and path is
built in the pure module :mod:`dizions_async._writes`; these methods only send what it
prepares and decode the ID(s) that come back. Write requests are non-idempotent, so the
core resends them only when the server certainly did not act (429, 503, a connection
that failed before sending).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

from dizions_async import _writes
from dizions_async._convert import model_resource, write_fields
from dizions_async._core import _ClientCore
from dizions_async._redact import opted_in
from dizions_async._writes import Fields, FileSource, UploadResult
from dizions_async.errors import DecodeError, DizionsError, ValidationError
from dizions_async.protocol import (
    Request,
    Response,
    decode_created_id,
    decode_created_ids,
    decode_records,
    redact,
)
from dizions_async.query import ExtensionDatabase, Query

if TYPE_CHECKING:
    from dizions_async.models import Record

__all__ = ["_ClientWrites"]

P = TypeVar("P")


def _bare_record(record: object, what: str) -> tuple[str, int | None, Mapping[str, object]]:
    """The resource, ID and fields of a write given one model record alone.

    Raises:
        ValidationError: not a model, or an ExtensionRecord (its database is unknown).
    """
    try:
        resource = model_resource(record)
    except TypeError:
        raise ValidationError(
            f"{what} takes a resource and fields, or one record of dizions_async.models; "
            f"got {type(record).__name__}"
        ) from None
    if resource == "extension_database":
        raise ValidationError(f"an ExtensionRecord does not name its database: {what}(db, ...)")
    return resource, getattr(record, "id", None), write_fields(record)  # type: ignore[arg-type]


def _fields_for(resource: object, fields: Fields | Record) -> Mapping[str, object]:
    """The fields to send to ``resource``; a model record must be one of that resource.

    Raises:
        ValidationError: a record of another resource (a Client sent to referrals).
    """
    try:
        kind = model_resource(fields)
    except TypeError:
        return write_fields(fields)
    target = _writes.resource_name(resource)
    if target.partition("/")[0] != kind:
        raise ValidationError(
            f"a {type(fields).__name__} record cannot be written to {target!r}; "
            "pass a record of that resource or a mapping of fields"
        )
    return write_fields(fields)


class _ClientWrites(_ClientCore):
    """Write methods of :class:`~dizions_async.Client`."""

    def _prepare(self, prepare: Callable[..., P], *args: Any, **kwargs: Any) -> P:
        # A write's checks are pure code; their messages follow this client's log_values.
        with opted_in(self._log_values):
            return prepare(*args, **kwargs)

    def _write_request(self, prepared: _writes.PreparedWrite) -> Request:
        return self._request(
            prepared.method,
            prepared.path,
            body=prepared.body,
            content_type=prepared.content_type,
            idempotent=False,
        )

    async def _write(self, prepared: _writes.PreparedWrite) -> tuple[Request, Response]:
        request = self._write_request(prepared)
        return request, await self._send(request)

    async def _write_id(self, prepared: _writes.PreparedWrite) -> int:
        request, response = await self._write(prepared)
        return decode_created_id(request, response)

    @overload
    async def create(self, resource: str | ExtensionDatabase, fields: Fields | Record) -> int: ...
    @overload
    async def create(self, resource: Record) -> int: ...
    async def create(
        self, resource: str | ExtensionDatabase | Record, fields: Fields | Record | None = None
    ) -> int:
        """Create one record (``PUT /v2/{resource}``; ``POST`` with ``write_verbs="wiki"``)
        and return its ID.

        Args:
            resource: ``clients``, ``referrals``, ``external_referral``, or an extension
                database (an :class:`ExtensionDatabase` or ``"extension_database/slug"``);
                or a record of :mod:`dizions_async.models` alone, which names its resource.
            fields: field name -> int, str, bool (``Y``/``N``), date or datetime (ISO), a
                list of IDs (comma-separated), or None (not sent); or a model record, of
                which the set fields are sent (not ``id``, nor fields read from related
                records), then its ``extra``.

        Raises:
            ValidationError: before sending: the resource has no plain create, a mandatory
                field is missing, a key or value cannot be sent, an end is before its start.
            APIError, TransportError: see :meth:`_send`; ``outcome_unknown`` is True when
                the record may have been created anyway.
        """
        if fields is None:
            resource, _, fields = _bare_record(resource, "create")
        sent = _fields_for(resource, fields)
        prepared = self._prepare(_writes.prepare_create, resource, sent, self._write_verbs)
        return await self._write_id(prepared)

    @overload
    async def update(
        self, resource: str | ExtensionDatabase, id: int, fields: Fields | Record
    ) -> int: ...
    @overload
    async def update(self, resource: Record) -> int: ...
    async def update(
        self,
        resource: str | ExtensionDatabase | Record,
        id: int | None = None,
        fields: Fields | Record | None = None,
    ) -> int:
        """Update record ``id`` (``POST /v2/{resource}/id/{id}``, or the wiki convention's
        shape with ``write_verbs="wiki"``); returns its ID.

        ``update(record)`` updates the record's own ``id`` on its resource with its set
        fields (a record of :mod:`dizions_async.models`).

        Raises:
            ValidationError: before sending: the resource cannot be updated, a bad ID, no
                field left once None values are dropped, a key or value that cannot be
                sent, an end before its start, a partial client relationship.
            APIError, TransportError: see :meth:`_send`.
        """
        if fields is None:
            resource, id, fields = _bare_record(resource, "update")
            if id is None:
                raise ValidationError("update(record) needs the record's id", field="id")
        sent = _fields_for(resource, fields)
        prepared = self._prepare(_writes.prepare_update, resource, id, sent, self._write_verbs)
        return await self._write_id(prepared)

    async def create_client(
        self, fields: Fields | Record, external_id: str | int | None = None
    ) -> int:
        """Create a client (first_name and surname are mandatory); returns its ID.

        With ``external_id`` (a reference in another system) the create is
        ``PUT /v2/clients/external_id/{EXT}``, and before any resend (after a 429 or 503)
        the client is read back by its external ID: found, its id is returned and the
        create is not sent again (a 503 can follow a commit behind a gateway). If the
        outcome is unknown (the error has ``outcome_unknown = True``), the message says
        what to read to find out whether the client exists before creating it again, with
        the ID masked (unless ``log_values``); the error's ``external_id`` attribute holds
        the ID itself.

        Raises:
            ValidationError: see :meth:`create`; a bad or conflicting external ID.
            APIError, TransportError: see :meth:`_send`.
        """
        sent = _fields_for("clients", fields)
        prepared = self._prepare(
            _writes.prepare_create_client, sent, external_id, self._write_verbs
        )
        if external_id is None:
            return await self._write_id(prepared)
        ext = _writes.encode_value("external_id", external_id)
        assert ext is not None  # checked by prepare_create_client
        request = self._write_request(prepared)
        try:
            outcome = await self._send_checked(request, lambda: self._client_id_by(ext))
            if isinstance(outcome, int):
                return outcome
            return decode_created_id(request, outcome)
        except DizionsError as exc:
            if not exc.outcome_unknown:
                raise
            # Same error, same class: the message gains the way to check (the ID masked
            # unless values are opted in), the attribute the ID itself, for code.
            path = prepared.path if self._log_values else redact(prepared.path)
            exc.external_id = str(external_id)
            exc.args = (
                f"{exc}; to see whether the client was created, read GET {path} "
                "(Query('clients').filter(external_id=exc.external_id)) before trying again",
            )
            raise

    async def _client_id_by(self, external_id: str) -> int | None:
        """The lowest id of the clients with ``external_id``, or None when there is none."""
        query = Query("clients").filter(external_id=external_id).fields("id")
        request = self._get(query.path)
        records = decode_records(request, await self._send(request))
        ids = [i for i in (r.get("id") for r in records) if type(i) is int]
        if len(ids) < len(records):
            raise DecodeError(f"{request.label}: a client read back has no integer id")
        return min(ids, default=None)

    async def create_referral(self, fields: Fields | Record) -> int:
        """Create a referral (record a contact); returns its ID.

        Mandatory: client, client_type, date, project, template, stage,
        response_description.
        """
        return await self.create("referrals", fields)

    async def create_due_contact(self, referral_id: int, fields: Fields | Record) -> int:
        """Create a due contact (an incomplete action) for a referral; returns its ID.

        ``PUT /v2/due_contacts/referral/{referral_id}`` (``POST`` in the wiki convention);
        mandatory: user, start_date, end_date, description.
        """
        sent = _fields_for("due_contacts", fields)
        prepared = self._prepare(_writes.prepare_due_contact, referral_id, sent, self._write_verbs)
        return await self._write_id(prepared)

    async def create_done_contact(self, referral_id: int, fields: Fields | Record) -> int:
        """Create a done contact (a completed action) for a referral; returns its ID.

        ``POST /v2/done_contacts/referral/{referral_id}`` (wiki convention; ``PUT`` in the
        seed's). Mandatory: user, stage, start_date, end_date, description; optional:
        travel_time, travel_mileage, transport_method, contact_type, priority.

        Raises:
            ValidationError: before sending: a mandatory field missing, an end before its
                start, a key or value that cannot be sent.
            APIError, TransportError: see :meth:`_send`.
        """
        sent = _fields_for("done_contacts", fields)
        prepared = self._prepare(_writes.prepare_done_contact, referral_id, sent, self._write_verbs)
        return await self._write_id(prepared)

    async def update_due_contact(self, id: int, fields: Fields | Record) -> int:
        """Update due contact ``id``; returns its ID."""
        return await self.update("due_contacts", id, fields)

    async def complete_contact(
        self, contact_id: int, start: dt.date | str, end: dt.date | str, **fields: object
    ) -> int:
        """Complete due contact ``contact_id``: POST done_contacts with start_date, end_date.

        Args:
            contact_id: the due contact's ID (it becomes a done contact).
            start, end: when the contact happened: dates, datetimes or ISO strings.
            fields: other done-contact fields to set, e.g. ``stage=3, travel_time=15``
                (user, stage, description and the optional travel_time, travel_mileage,
                transport_method, contact_type, priority).

        Raises:
            ValidationError: start or end missing or not a date, or end before start.
        """
        prepared = self._prepare(
            _writes.prepare_complete_contact, contact_id, start, end, fields, self._write_verbs
        )
        return await self._write_id(prepared)

    async def update_done_contact(self, id: int, fields: Fields | Record) -> int:
        """Update done contact ``id``; returns its ID."""
        return await self.update("done_contacts", id, fields)

    async def relate_clients(
        self,
        first_id: int,
        second_id: int,
        first_to_second: int,
        second_to_first: int,
        *,
        carer_first_to_second: int | None = None,
        carer_second_to_first: int | None = None,
    ) -> int:
        """Relate two clients the seed's way: a client update carrying id_second and the
        relationships (see :meth:`set_relationship` for the wiki's own endpoint).

        Relationship IDs come from ``dictionary("relationships")``, carer ones from
        ``dictionary("carer_relationships")``. Returns ``first_id``.

        Raises:
            ValidationError: an ID that is not a non-negative int, or a client related to
                itself.
        """
        prepared = self._prepare(
            _writes.prepare_relationship,
            first_id,
            second_id,
            first_to_second,
            second_to_first,
            carer_first_to_second=carer_first_to_second,
            carer_second_to_first=carer_second_to_first,
            verbs=self._write_verbs,
        )
        return await self._write_id(prepared)

    async def set_relationship(
        self,
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
    ) -> int:
        """Relate two clients through the relationships endpoint (API_relationships).

        Sends ``PUT /v2/relationship_details/{first_id}/{second_id}`` with a JSON array of
        one object: ``relation_first_to_second``, ``relation_second_to_first`` and the
        optional ``major``, ``send_one_letter_to_both`` (Y/N), ``joint_address``,
        ``carer_relation_*``. Clients read them back as ``relationship_details`` and
        ``carer_relationship_details``. Relationship IDs come from
        ``dictionary("relationships")``, carer ones from
        ``dictionary("carer_relationships")``. Returns ``first_id``.

        Raises:
            ValidationError: before sending: a bad ID, a client related to itself, one
                carer relationship without the other.
            APIError, TransportError: see :meth:`_send`.
        """
        prepared = self._prepare(
            _writes.prepare_set_relationship,
            first_id,
            second_id,
            first_to_second=first_to_second,
            second_to_first=second_to_first,
            major=major,
            send_one_letter_to_both=send_one_letter_to_both,
            joint_address=joint_address,
            carer_first_to_second=carer_first_to_second,
            carer_second_to_first=carer_second_to_first,
        )
        await self._write(prepared)
        return int(first_id)

    @overload
    async def external_referral(self, person_or_people: Fields) -> int: ...
    @overload
    async def external_referral(self, person_or_people: Sequence[Fields]) -> list[int]: ...
    async def external_referral(
        self, person_or_people: Fields | Sequence[Fields]
    ) -> int | list[int]:
        """Stage external referral(s) for an administrator to import or reject.

        ``PUT /v2/external_referral``; each person needs org_type_id, surname and
        description, and may carry ``project`` and client fields. One person (a mapping)
        returns its ID; a list of people is sent as one JSON array and returns their IDs.

        Raises:
            ValidationError: a mandatory field missing (the message names the person's
                index), an empty list, a key or value that cannot be sent.
        """
        prepared = self._prepare(
            _writes.prepare_external_referral, person_or_people, self._write_verbs
        )
        request, response = await self._write(prepared)
        if isinstance(person_or_people, Mapping):
            return decode_created_id(request, response)
        return decode_created_ids(request, response)

    async def upload(
        self,
        resource: str,
        id: int,
        files: FileSource | Sequence[FileSource],
        *,
        user_visibility: int | Iterable[int],
        group_visibility: int | Iterable[int],
    ) -> UploadResult:
        """Upload files against a client or referral (``POST .../id/{id}/uploads``).

        Files are streamed from disk as multipart form data, never read whole into memory.
        Your own file objects are read from their current position and left open; an
        upload is resent after a 429 or 503 only if every file can seek back.

        Args:
            resource: ``"clients"`` or ``"referrals"``.
            id: the client's or referral's ID.
            files: a path or a binary file object, or a list of them.
            user_visibility: user ID(s) who may see the files (sent comma-separated).
            group_visibility: group ID(s) who may see the files (sent comma-separated).

        Returns:
            The stored uploads' IDs and the file names sent.

        Raises:
            ValidationError: before sending: another resource, a bad ID or visibility, a
                file that does not exist or cannot be read, a text-mode or closed file.
            APIError, TransportError: see :meth:`_send`.
        """
        prepared = self._prepare(
            _writes.prepare_upload,
            resource,
            id,
            files,
            user_visibility=user_visibility,
            group_visibility=group_visibility,
        )
        # Files are opened only once this upload may go: thousands queued hold none.
        async with self._upload_slots:
            with contextlib.ExitStack() as stack:
                request = Request.build(
                    prepared.method,
                    self._url(prepared.path),
                    self._headers,
                    multipart=_writes.open_upload(prepared, stack),
                    idempotent=False,
                    show_values=self._log_values,
                )
                response = await self._send(request)
        ids = decode_created_ids(request, response)
        return UploadResult(tuple(ids), tuple(f.filename for f in prepared.files))
