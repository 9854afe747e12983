"""Deterministic synthetic data for the fake server: the same seed always gives the same rows.

Everything is drawn from one ``random.Random(seed)`` in a fixed order and written with
``executemany``; sizes scale from the number of clients (about 1.5 referrals per client,
two done and a third of a due contact per referral). Dictionaries cover every ID field.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import sqlite3
from collections.abc import Iterator, Sequence

from dizions_async.testing._schema import EXTENSION_DATABASES, TABLES

__all__ = ["DICTIONARIES", "seed_database"]

_FIRST = [
    "Oliver",
    "George",
    "Harry",
    "Jack",
    "Noah",
    "Leo",
    "Arthur",
    "Oscar",
    "Charlie",
    "Freddie",
    "Alfie",
    "Thomas",
    "William",
    "Olivia",
    "Amelia",
    "Isla",
    "Ava",
    "Mia",
    "Ivy",
    "Lily",
    "Isabella",
    "Rosie",
    "Sophia",
    "Grace",
    "Freya",
    "Florence",
    "Poppy",
    "Mohammed",
    "Priya",
    "Aisha",
    "Rhys",
    "Siobhan",
    "Callum",
    "Eilidh",
    "Gareth",
    "Niamh",
    "Bronwen",
    "Kwame",
    "Yusuf",
]
_SURNAMES = [
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Wood",
    "Jackson",
    "Clarke",
    "Patel",
    "Khan",
    "Lewis",
    "Hughes",
    "Edwards",
    "O'Brien",
    "Murphy",
    "MacDonald",
    "Campbell",
    "Stewart",
    "Singh",
    "Ahmed",
    "Hussain",
    "Owen",
    "Price",
    "Morgan",
    "Lee",
]
_TOWNS = (
    ("Leeds", "LS", 1),
    ("Bradford", "BD", 1),
    ("Wakefield", "WF", 1),
    ("Halifax", "HX", 1),
    ("Manchester", "M", 2),
    ("Salford", "M", 2),
    ("Bolton", "BL", 2),
    ("Sheffield", "S", 3),
    ("Rotherham", "S", 3),
    ("Doncaster", "DN", 3),
)
_STREETS = "High Street|Church Road|Station Road|Park Lane|Mill Lane|Victoria Road|Green Lane"

#: (group, table) -> names; IDs are 1..n in order, except where a start is given below.
DICTIONARIES: dict[tuple[str, str], Sequence[str]] = {
    ("organisations", "district"): [t for t, _, _ in _TOWNS],
    ("organisations", "county"): ["West Yorkshire", "Greater Manchester", "South Yorkshire"],
    ("organisations", "branch"): ["North", "South", "Central"],
    ("clients", "type"): ["Client", "Carer", "Volunteer"],
    ("clients", "gender"): ["Female", "Male", "Non-binary", "Prefer not to say"],
    ("clients", "ethnicity"): [
        "White British",
        "White Irish",
        "White Other",
        "Mixed",
        "Asian or Asian British - Indian",
        "Asian or Asian British - Pakistani",
        "Black or Black British - African",
        "Black or Black British - Caribbean",
        "Chinese",
        "Other",
    ],
    ("clients", "religion"): [
        "None",
        "Christian",
        "Muslim",
        "Hindu",
        "Sikh",
        "Jewish",
        "Buddhist",
        "Other",
        "Prefer not to say",
        "Not known",
    ],
    ("clients", "main_language"): ["English", "Urdu", "Polish", "Punjabi", "Welsh", "Arabic"],
    ("clients", "marital_status"): ["Single", "Married", "Civil partnership", "Widowed"],
    ("clients", "sexual_orientation"): ["Heterosexual", "Gay or lesbian", "Bisexual", "Other"],
    ("clients", "accommodation"): ["Owner occupier", "Council rented", "Private rented"],
    ("clients", "employment_status"): ["Employed", "Unemployed", "Retired", "Student"],
    ("clients", "age_range"): ["0-17", "18-24", "25-49", "50-64", "65-79", "80+"],
    ("clients", "main_disability"): ["None", "Physical", "Sensory", "Learning", "Mental health"],
    ("clients", "preferred_communication_method"): ["Telephone", "Email", "Letter", "Text"],
    ("clients", "gp_surgery"): ["Park Surgery", "Valley Practice", "Riverside Health Centre"],
    ("clients", "school"): ["St Mary's", "Oakwood Academy", "Hillside Primary"],
    ("clients", "website_photo_consent"): ["No", "Yes", "Ask each time"],
    ("referrals", "project"): [
        "Befriending",
        "Benefits Advice",
        "Carers Support",
        "Home From Hospital",
        "Falls Prevention",
        "Digital Inclusion",
    ],
    ("referrals", "project_category"): ["Older people", "Carers", "Advice"],
    ("referrals", "template"): ["Standard referral", "Self referral", "Hospital discharge"],
    ("referrals", "stage"): ["New", "Assessed", "Active", "Closed"],
    ("referrals", "referrer"): ["GP", "Self", "Family member", "Social services", "Hospital"],
    ("referrals", "priority"): ["Low", "Medium", "High"],
    ("referrals", "funding_sponsor"): ["Council", "NHS", "Lottery"],
    ("referrals", "introduction_source"): ["Leaflet", "Website", "Word of mouth"],
    ("referrals", "response_method"): ["Telephone", "Home visit", "Letter"],
    ("referrals", "risk_level"): ["Low", "Medium", "High"],
    ("contacts", "contact_method"): ["Telephone", "Face to face", "Email", "Video call"],
    ("contacts", "contact_type"): ["Assessment", "Support", "Review", "Closure"],
    ("schedules", "status"): ["Planned", "Confirmed", "Cancelled"],
    ("extension", "outcome"): ["No action", "Verbal warning", "Written warning"],
    ("relationships", "relationships"): ["Parent", "Child", "Spouse", "Sibling", "Friend"],
    ("relationships", "carer_relationships"): ["Is carer of", "Is cared for by"],
    # wiki: attendance rates and treatments (API_clinics), contact transport methods
    ("attendances", "rates"): ["Standard", "Concession", "Free"],
    ("attendances", "treatments"): ["Lunch", "Transport", "Activity"],
    ("contacts", "transport_method"): ["Car", "Bus", "On foot"],
}
#: API_schedules: a schedule's status is text, as in ``/status/completed``.
SCHEDULE_STATUSES = ("pending", "completed", "cancelled")
# Extension field dictionaries start at a high ID, as real ones do (the docs filter on 109).
_DICT_START = {("clients", "website_photo_consent"): 108}


def dict_start(key: tuple[str, str]) -> int:
    """The first ID of dictionary ``key``."""
    return _DICT_START.get(key, 1)


def _pick(rng: random.Random, key: tuple[str, str]) -> int:
    return dict_start(key) + rng.randrange(len(DICTIONARIES[key]))


def _yn(rng: random.Random, share: float) -> str:
    return "Y" if rng.random() < share else "N"


def _day(rng: random.Random, start: dt.date, span_days: int) -> dt.date:
    return start + dt.timedelta(days=rng.randrange(span_days))


def _insert(conn: sqlite3.Connection, table: str, rows: Iterator[tuple[object, ...]]) -> None:
    first = next(rows, None)
    if first is None:
        return
    # Rows fill the table's leading columns; later ones (the wiki's) are seeded by SQL.
    cols = list(TABLES[table])[: len(first)]
    marks = ", ".join("?" for _ in cols)
    names = ", ".join(f'"{c}"' for c in cols)
    conn.executemany(
        f"INSERT INTO {table} ({names}) VALUES ({marks})", itertools.chain([first], rows)
    )


def _dictionary_rows() -> Iterator[tuple[object, ...]]:
    for (grp, tbl), names in DICTIONARIES.items():
        first = dict_start((grp, tbl))
        for offset, name in enumerate(names):
            yield (grp, tbl, first + offset, name)


def _client_rows(rng: random.Random, n: int, workers: int) -> Iterator[tuple[object, ...]]:
    base = dt.date(1930, 1, 1)
    for cid in range(1, n + 1):
        first, surname = rng.choice(_FIRST), rng.choice(_SURNAMES)
        town_i = rng.randrange(len(_TOWNS))
        town, area, county = _TOWNS[town_i]
        postcode = (
            f"{area}{rng.randint(1, 29)} {rng.randint(1, 9)}"
            f"{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
        )
        yield (
            cid,
            first,
            surname,
            _day(rng, base, 365 * 85).isoformat(),
            f"{first.lower()}.{surname.lower().replace(chr(39), '')}{cid}@example.org",
            f"07700 9{cid % 100000:05d}",
            f"{rng.randint(1, 200)} {rng.choice(_STREETS.split('|'))}",
            town,
            county,
            postcode,
            town_i + 1,
            _pick(rng, ("clients", "type")),
            f"EXT-{cid:06d}" if rng.random() < 0.3 else None,
            _pick(rng, ("clients", "gender")),
            _pick(rng, ("clients", "ethnicity")),
            _pick(rng, ("clients", "religion")),
            _pick(rng, ("clients", "main_language")),
            _pick(rng, ("clients", "marital_status")),
            _pick(rng, ("clients", "sexual_orientation")),
            _pick(rng, ("clients", "accommodation")),
            _pick(rng, ("clients", "employment_status")),
            _pick(rng, ("clients", "age_range")),
            _pick(rng, ("clients", "main_disability")),
            _pick(rng, ("clients", "preferred_communication_method")),
            _yn(rng, 0.2),
            _yn(rng, 0.1),
            _yn(rng, 0.9),
            _yn(rng, 0.02),
            _yn(rng, 0.8),
            f"Dr {rng.choice(_SURNAMES)}",
            _pick(rng, ("clients", "gp_surgery")),
            f"{rng.randrange(10**9, 10**10)}",
            f"SS{cid:07d}" if rng.random() < 0.2 else None,
            rng.randint(1, 6),
            _pick(rng, ("clients", "school")) if rng.random() < 0.2 else None,
            rng.randint(1, workers),
            _pick(rng, ("clients", "website_photo_consent")) if rng.random() < 0.6 else None,
            _yn(rng, 0.4),
        )


def seed_database(conn: sqlite3.Connection, *, clients: int, seed: int) -> None:
    """Fill an empty schema with synthetic data.

    Args:
        conn: a connection whose schema exists and whose tables are empty.
        clients: how many clients; every other size scales from it.
        seed: the seed of the one random generator everything is drawn from.
    """
    rng = random.Random(seed)
    n_workers = max(5, clients // 50)
    _insert(conn, "dictionaries", _dictionary_rows())
    projects = DICTIONARIES[("referrals", "project")]
    _insert(
        conn,
        "projects",
        iter([(i + 1, name, i % 3 + 1, "N" if i == 5 else "Y") for i, name in enumerate(projects)]),
    )
    _insert(
        conn,
        "workers",
        (
            (
                wid,
                rng.choice(_FIRST),
                rng.choice(_SURNAMES),
                f"worker{wid}@example.org",
                rng.randint(1, 3),
                _yn(rng, 0.9),
            )
            for wid in range(1, n_workers + 1)
        ),
    )
    _insert(conn, "clients", _client_rows(rng, clients, n_workers))
    referrals: list[tuple[object, ...]] = []
    contacts: list[tuple[object, ...]] = []
    start = dt.date(2018, 1, 1)
    for cid in range(1, clients + 1):
        for _ in range(rng.choice((0, 1, 1, 2, 2, 3))):
            rid = len(referrals) + 1
            when = _day(rng, start, 365 * 6)
            project = rng.randint(1, len(projects))
            referrals.append(
                (
                    rid,
                    cid,
                    _pick(rng, ("clients", "type")),
                    when.isoformat(),
                    project,
                    _pick(rng, ("referrals", "template")),
                    _pick(rng, ("referrals", "stage")),
                    "Initial call made",
                    f"Referral {rid} for support",
                    _pick(rng, ("referrals", "referrer")),
                    _pick(rng, ("referrals", "priority")),
                    _pick(rng, ("contacts", "contact_method")),
                    _pick(rng, ("contacts", "contact_type")),
                    _pick(rng, ("referrals", "funding_sponsor")),
                    _pick(rng, ("referrals", "introduction_source")),
                    _pick(rng, ("referrals", "response_method")),
                    _yn(rng, 0.5),
                    None,
                    f"{when.isoformat()} 09:00:00",
                    1 + rid % 3,  # branch (API_referrals): not drawn, so the data stays
                    _pick(rng, ("referrals", "risk_level")) if rng.random() < 0.5 else None,
                )
            )
            day = when
            for _ in range(rng.choice((0, 1, 2, 2, 3, 4))):
                day = day + dt.timedelta(days=rng.randint(1, 60))
                contacts.append(_contact(rng, len(contacts) + 1, rid, day, n_workers, True))
            if rng.random() < 0.33:
                day = day + dt.timedelta(days=rng.randint(1, 30))
                contacts.append(_contact(rng, len(contacts) + 1, rid, day, n_workers, False))
    _insert(conn, "referrals", iter(referrals))
    _insert(conn, "contacts", iter(contacts))
    _seed_others(conn, rng, clients, n_workers, len(referrals))
    conn.commit()


def _contact(
    rng: random.Random, cid: int, rid: int, day: dt.date, workers: int, done: bool
) -> tuple[object, ...]:
    hour = rng.randint(9, 16)
    return (
        cid,
        rid,
        int(done),
        rng.randint(1, workers),
        rng.randint(1, 3),
        f"{day.isoformat()} {hour:02d}:00:00",
        f"{day.isoformat()} {hour:02d}:45:00",
        "Support call" if done else "Follow-up due",
        _pick(rng, ("referrals", "stage")),
        round(rng.random() * 20, 1) if done else None,
        rng.choice((0, 15, 30, 45)) if done else None,
        None,  # transport_method
    )


def _seed_others(
    conn: sqlite3.Connection, rng: random.Random, clients: int, workers: int, referrals: int
) -> None:
    start = dt.date(2018, 1, 1)
    n_projects = len(DICTIONARIES[("referrals", "project")])
    schedules = []
    for sid in range(1, max(1, clients // 4) + 1):
        first = _day(rng, start, 365 * 6)
        last = first + dt.timedelta(days=rng.randint(0, 120)) if rng.random() < 0.8 else None
        schedules.append(
            (
                sid,
                rng.randint(1, workers),
                rng.randint(1, max(1, clients)),
                rng.randint(1, n_projects),
                SCHEDULE_STATUSES[
                    _pick(rng, ("schedules", "status")) - dict_start(("schedules", "status"))
                ],
                first.isoformat(),
                last.isoformat() if last else None,
            )
        )
    _insert(conn, "schedules", iter(schedules))
    clinic_names = ("Drop-in", "Memory Cafe", "Benefits Clinic", "Coffee Morning", "IT Help")
    clinics = [
        # (no draws from rng for the sizes: the data seeded after them stays the same)
        (i + 1, f"{name} {_TOWNS[i % len(_TOWNS)][0]}", i % n_projects + 1, _TOWNS[i][0], 10 + i)
        for i, name in enumerate(clinic_names * 2)
    ]
    _insert(conn, "clinics", iter(clinics))
    attendances = []
    for aid in range(1, max(1, clients // 2) + 1):
        clinic = rng.randint(1, len(clinics))
        day = _day(rng, start, 365 * 6)
        attendances.append(
            (
                aid,
                clinic,
                rng.randint(1, max(1, clients)),
                clinics[clinic - 1][2],
                f"{day.isoformat()} {rng.randint(9, 16):02d}:00:00",
                _yn(rng, 0.85),
                (2.5 * (clinic % 4)) or None,  # rate: not drawn from rng, as above
            )
        )
    _insert(conn, "attendances", iter(attendances))
    if referrals:
        ext_rows: dict[str, list[tuple[object, ...]]] = {s: [] for s in EXTENSION_DATABASES}
        for i in range(1, max(1, referrals // 10) + 1):
            ref = rng.randint(1, referrals)
            stamp = _day(rng, start, 365 * 6).isoformat()
            ext_rows["staff_disciplinary_13"].append(
                (i, ref, None, stamp, _pick(rng, ("extension", "outcome")), "Noted on file")
            )
            ext_rows["wellcheck_notes_9"].append(
                (i, ref, None, stamp, "Called, all well", rng.randint(1, 10))
            )
        for slug, rows in ext_rows.items():
            _insert(conn, slug, iter(rows))
        _insert(
            conn,
            "wellcheck_notes",
            (
                (i, rng.randint(1, referrals), None, rng.randint(1, 10), "Managing")
                for i in range(1, max(1, referrals // 10) + 1)
            ),
        )
        # An extension record's client is its referral's client.
        for slug in EXTENSION_DATABASES:
            conn.execute(
                f"UPDATE {slug} SET client = "
                f"(SELECT r.client FROM referrals r WHERE r.id = {slug}.referral)"
            )
    _seed_wiki_fields(conn)


def _seed_wiki_fields(conn: sqlite3.Connection) -> None:
    """The columns the wiki pages add, from the rows already seeded (no random draws, so
    the data seeded before them is as it was)."""
    for statement in (
        "UPDATE contacts SET (stage, contact_type, priority) = "
        "(SELECT r.stage, r.contact_type, r.priority FROM referrals r "
        "WHERE r.id = contacts.referral)",
        "UPDATE contacts SET transport_method = 1 + id % 3 WHERE done = 1",
        "INSERT INTO attendance_treatments (attendance, treatment, ticked, paid, amount_paid) "
        "SELECT id, 1 + id % 3, 'Y', CASE WHEN id % 2 THEN 'Y' ELSE 'N' END, "
        "CASE WHEN id % 2 THEN 3.5 ELSE 0 END FROM attendances WHERE id % 3 = 0",
    ):
        conn.execute(statement)
