"""Schema migrations as named, ordered functions, each in its own transaction.

A migration is never edited once released: add a new one. ``apply_pending``
runs on every open, so an old store file upgrades itself the first time a newer
realimpact touches it (pattern from sqlite-utils' migrations).
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from realimpact.errors import StoreRefusedError

Migration = tuple[int, str, Callable[[duckdb.DuckDBPyConnection], None]]

_RECORD_COMMON = """
    file_id      INTEGER NOT NULL,
    line         INTEGER NOT NULL,
    month        VARCHAR NOT NULL,      -- YYYY-MM
    longitude    DOUBLE,                -- WGS84 as given
    latitude     DOUBLE,
    easting      DOUBLE,                -- British National Grid (EPSG:27700) metres
    northing     DOUBLE,
    has_coords   BOOLEAN NOT NULL,
"""


def _m001_initial(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE source_files (
            file_id          INTEGER PRIMARY KEY,
            path             VARCHAR NOT NULL,   -- as given on the command line (+ '!member' in a zip)
            sha256           VARCHAR NOT NULL,   -- of the decoded content; identity for idempotence
            kind             VARCHAR NOT NULL,   -- street | stop_search | outcomes | ...
            force            VARCHAR,
            encoding         VARCHAR,
            rows_read        BIGINT NOT NULL,
            rows_inserted    BIGINT NOT NULL,
            rows_quarantined BIGINT NOT NULL,
            ingested_at      TIMESTAMP NOT NULL DEFAULT current_timestamp,
            UNIQUE (sha256, kind)
        )
        """
    )
    con.execute("CREATE SEQUENCE source_file_ids START 1")
    con.execute(
        f"""
        CREATE TABLE crimes (
            {_RECORD_COMMON}
            crime_id     VARCHAR,               -- empty for anti-social behaviour
            reported_by  VARCHAR,
            falls_within VARCHAR,
            location     VARCHAR,
            lsoa_code    VARCHAR,
            lsoa_name    VARCHAR,
            crime_type   VARCHAR NOT NULL,
            last_outcome VARCHAR,
            context      VARCHAR
        )
        """
    )
    con.execute(
        f"""
        CREATE TABLE stop_searches (
            {_RECORD_COMMON}
            force            VARCHAR,
            type             VARCHAR,
            datetime         TIMESTAMPTZ,
            part_of_operation BOOLEAN,
            operation_name   VARCHAR,
            gender           VARCHAR,
            age_range        VARCHAR,
            self_defined_ethnicity    VARCHAR,
            officer_defined_ethnicity VARCHAR,
            legislation      VARCHAR,
            object_of_search VARCHAR,
            outcome          VARCHAR,
            outcome_linked_to_object BOOLEAN,
            removal_of_outer_clothing BOOLEAN
        )
        """
    )
    con.execute(
        f"""
        CREATE TABLE outcomes (
            {_RECORD_COMMON}
            crime_id     VARCHAR,
            reported_by  VARCHAR,
            falls_within VARCHAR,
            location     VARCHAR,
            lsoa_code    VARCHAR,
            lsoa_name    VARCHAR,
            outcome_type VARCHAR
        )
        """
    )
    con.execute(
        """
        CREATE TABLE quarantine (
            file_id INTEGER NOT NULL,
            line    INTEGER,
            kind    VARCHAR NOT NULL,
            field   VARCHAR,
            reason  VARCHAR NOT NULL,
            raw     VARCHAR
        )
        """
    )
    con.execute(
        """
        CREATE TABLE layers (
            layer      VARCHAR PRIMARY KEY,
            kind       VARCHAR NOT NULL,     -- boundaries | grid | codes
            source     VARCHAR,
            id_field   VARCHAR,
            name_field VARCHAR,
            cell_size  DOUBLE,
            n_areas    INTEGER NOT NULL,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
        )
        """
    )
    con.execute(
        """
        CREATE TABLE areas (
            layer    VARCHAR NOT NULL,
            area_id  VARCHAR NOT NULL,
            name     VARCHAR,
            geom     BLOB,                   -- WKB, British National Grid
            area_m2  DOUBLE,
            minx DOUBLE, miny DOUBLE, maxx DOUBLE, maxy DOUBLE,
            PRIMARY KEY (layer, area_id)
        )
        """
    )
    # Point-in-polygon results, filled lazily per (layer, source file) so a new
    # layer or a new file costs only its own work.
    con.execute(
        """
        CREATE TABLE assignments (
            layer    VARCHAR NOT NULL,
            record_table VARCHAR NOT NULL,
            file_id  INTEGER NOT NULL,
            line     INTEGER NOT NULL,
            area_id  VARCHAR NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE assignment_log (
            layer VARCHAR NOT NULL, record_table VARCHAR NOT NULL, file_id INTEGER NOT NULL,
            PRIMARY KEY (layer, record_table, file_id)
        )
        """
    )


def _m020_markets(con: duckdb.DuckDBPyConnection) -> None:
    """Market registry: entities, links, areas, assessments, disruptions."""
    con.execute(
        """
        CREATE TABLE market_entities (
            id          VARCHAR PRIMARY KEY,   -- pseudonymous id, unique across kinds
            kind        VARCHAR NOT NULL,      -- market | group | place
            attrs       VARCHAR NOT NULL,      -- JSON: level, selling_modes, commodities ...
            created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
            updated_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
        )
        """
    )
    con.execute(
        """
        CREATE TABLE market_links (
            from_id  VARCHAR NOT NULL,
            to_id    VARCHAR NOT NULL,
            relation VARCHAR NOT NULL DEFAULT 'linked',
            PRIMARY KEY (from_id, to_id)
        )
        """
    )
    con.execute(
        """
        CREATE TABLE market_areas (
            entity_id VARCHAR NOT NULL,
            layer     VARCHAR NOT NULL,
            area_id   VARCHAR NOT NULL,
            PRIMARY KEY (entity_id, layer, area_id)
        )
        """
    )
    # Assessments are append-only: a new version never replaces an old one.
    con.execute(
        """
        CREATE TABLE market_assessments (
            assessment_id VARCHAR PRIMARY KEY,   -- '<entity>@v<version>'
            entity_id   VARCHAR NOT NULL,
            version     INTEGER NOT NULL,
            assessed_on DATE NOT NULL,
            assessor    VARCHAR,                 -- role or pseudonym, never a name
            capability  INTEGER,
            capacity    INTEGER,
            position_confidence VARCHAR,
            position_evidence   VARCHAR,
            note        VARCHAR,
            prefill     VARCHAR,                 -- JSON evidence drawn from the store
            created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
            UNIQUE (entity_id, version)
        )
        """
    )
    con.execute(
        """
        CREATE TABLE market_assessment_harms (
            assessment_id VARCHAR NOT NULL,
            harm_id     VARCHAR NOT NULL,
            impact      INTEGER NOT NULL,
            likelihood  INTEGER NOT NULL,
            confidence  VARCHAR NOT NULL,
            evidence    VARCHAR,
            PRIMARY KEY (assessment_id, harm_id)
        )
        """
    )
    con.execute(
        """
        CREATE TABLE market_disruptions (
            disruption_id VARCHAR PRIMARY KEY,
            entity_id   VARCHAR NOT NULL,
            date        DATE NOT NULL,
            category    VARCHAR NOT NULL,       -- prepare | prevent | protect | pursue
            impact      VARCHAR NOT NULL,       -- minor | moderate | major
            planned     BOOLEAN,
            description VARCHAR,
            capability_evidence VARCHAR,        -- evidence of impact on capability
            evidence_refs VARCHAR,              -- JSON list of references
            created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
        )
        """
    )
    con.execute(
        """
        CREATE TABLE market_indicator_obs (
            entity_id    VARCHAR NOT NULL,       -- market, group, place or 'layer:area'
            indicator_id VARCHAR NOT NULL,       -- Project Linctus indicator id
            observed_on  DATE NOT NULL,
            evidence     VARCHAR,
            created_at   TIMESTAMP NOT NULL DEFAULT current_timestamp
        )
        """
    )


def _m010_harm(con: duckdb.DuckDBPyConnection) -> None:
    """Harm: stored weight sets, populations per layer, partner indicators."""
    con.execute(
        """
        CREATE TABLE harm_weight_sets (
            name       VARCHAR PRIMARY KEY,
            kind       VARCHAR NOT NULL,        -- user | community
            title      VARCHAR,
            unit       VARCHAR,
            method     VARCHAR,
            source     VARCHAR,                 -- file it came from
            details    VARCHAR,                 -- JSON: derivation, per-harm scores ...
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
        )
        """
    )
    con.execute(
        """
        CREATE TABLE harm_weights (
            name       VARCHAR NOT NULL,
            crime_type VARCHAR NOT NULL,
            weight     DOUBLE NOT NULL,
            PRIMARY KEY (name, crime_type)
        )
        """
    )
    con.execute(
        """
        CREATE TABLE population_sets (
            layer       VARCHAR PRIMARY KEY,    -- one resident population per layer
            source      VARCHAR NOT NULL,
            sha256      VARCHAR NOT NULL,
            id_field    VARCHAR NOT NULL,
            value_field VARCHAR NOT NULL,
            n_areas     INTEGER NOT NULL,
            total       DOUBLE NOT NULL,
            ingested_at TIMESTAMP NOT NULL DEFAULT current_timestamp
        )
        """
    )
    con.execute(
        """
        CREATE TABLE populations (
            layer   VARCHAR NOT NULL,
            area_id VARCHAR NOT NULL,
            value   DOUBLE NOT NULL,
            PRIMARY KEY (layer, area_id)
        )
        """
    )
    con.execute("CREATE SEQUENCE partner_file_ids START 1")
    con.execute(
        """
        CREATE TABLE partner_files (
            partner_file_id INTEGER PRIMARY KEY,
            path        VARCHAR NOT NULL,
            sha256      VARCHAR NOT NULL,
            spec        VARCHAR NOT NULL,       -- JSON mapping spec used
            rows        BIGINT NOT NULL,
            ingested_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            UNIQUE (sha256, spec)
        )
        """
    )
    con.execute(
        """
        CREATE TABLE partner_indicators (
            partner_file_id INTEGER NOT NULL,
            line      INTEGER NOT NULL,
            layer     VARCHAR,                  -- set when the row names an area ...
            area_id   VARCHAR,
            longitude DOUBLE,                   -- ... or a point (WGS84 and BNG)
            latitude  DOUBLE,
            easting   DOUBLE,
            northing  DOUBLE,
            period    VARCHAR NOT NULL,         -- YYYY-MM, YYYY-Qn or YYYY
            indicator VARCHAR NOT NULL,
            value     DOUBLE NOT NULL,
            source    VARCHAR NOT NULL
        )
        """
    )


def _m011_harm_cache(con: duckdb.DuckDBPyConnection) -> None:
    """Monthly counts per area and crime-type slot, so a warm harm index skips the records.

    Rebuilt when the records, the layer or the category list change
    (``fingerprint``); never the source of truth.
    """
    slots = ", ".join(f"c{i:02d} INTEGER NOT NULL" for i in range(1, 17))
    con.execute(
        f"""
        CREATE TABLE harm_count_cache (
            layer VARCHAR NOT NULL, record_table VARCHAR NOT NULL,
            area_id VARCHAR NOT NULL, month VARCHAR NOT NULL, {slots}
        )
        """
    )
    con.execute(
        """
        CREATE TABLE harm_cache_state (
            layer VARCHAR NOT NULL, record_table VARCHAR NOT NULL,
            fingerprint VARCHAR NOT NULL,
            built_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            PRIMARY KEY (layer, record_table)
        )
        """
    )


def _m030_web(con: duckdb.DuckDBPyConnection) -> None:
    """Web app (``realimpact serve``): accounts, server-side sessions, the audit log.

    The secret that signs session and CSRF cookies is made here, once per
    store, so sessions survive a restart of the server and two stores never
    share one.
    """
    import secrets

    con.execute(
        """
        CREATE TABLE web_users (
            name          VARCHAR PRIMARY KEY,
            role          VARCHAR NOT NULL,      -- analyst | partner | admin
            password_hash VARCHAR NOT NULL,      -- 'scrypt$n=..,r=..,p=..$salt$hash' (base64)
            created_at    TIMESTAMP NOT NULL DEFAULT current_timestamp,
            disabled      BOOLEAN NOT NULL DEFAULT false,
            removed_at    TIMESTAMP               -- set by `users remove` (hash erased)
        )
        """
    )
    con.execute(
        """
        CREATE TABLE web_sessions (
            token_hash VARCHAR PRIMARY KEY,      -- sha256 of the cookie token, never the token
            user_name  VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            expires_at TIMESTAMP NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE audit_log (
            logged_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            user_name VARCHAR,                   -- NULL: anonymous (public page)
            role      VARCHAR,
            action    VARCHAR NOT NULL,          -- view | export | login | login_failed | logout
            object    VARCHAR NOT NULL,          -- route and its parameters
            audience  VARCHAR,                   -- disclosure profile applied
            remote    VARCHAR                    -- client address as the server saw it
        )
        """
    )
    con.execute("CREATE TABLE web_secrets (name VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")
    con.execute("INSERT INTO web_secrets VALUES ('signing', ?)", [secrets.token_urlsafe(48)])


MIGRATIONS: list[Migration] = [
    (1, "initial", _m001_initial),
    (10, "harm", _m010_harm),
    (11, "harm_cache", _m011_harm_cache),
    (20, "markets", _m020_markets),
    (30, "web", _m030_web),
]


def apply_pending(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply every migration not yet recorded; return the names applied."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS _migrations ("
        " id INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
        " applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
    )
    done = {r[0] for r in con.execute("SELECT id FROM _migrations").fetchall()}
    applied = []
    for mid, name, fn in sorted(MIGRATIONS, key=lambda m: m[0]):
        if mid in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            fn(con)
            con.execute("INSERT INTO _migrations (id, name) VALUES (?, ?)", [mid, name])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied


def pending(con: duckdb.DuckDBPyConnection) -> list[int]:
    try:
        done = {r[0] for r in con.execute("SELECT id FROM _migrations").fetchall()}
    except duckdb.CatalogException:
        done = set()
    return [m[0] for m in MIGRATIONS if m[0] not in done]


# How many of a foreign file's objects its refusal names before "and N more".
_NAMED_OBJECTS = 8


def _qualified(schema: str, name: str) -> str:
    return name if schema == "main" else f"{schema}.{name}"


def user_objects(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(kind, name) of everything a user created in the open file, sorted.

    Sequences and macros count as well as tables and views: a file holding only
    a sequence named ``source_file_ids`` is not empty, and migrating it would
    fail half-way.
    """
    db = "database_name = current_database() AND NOT temporary"
    rows = con.execute(
        f"""
        SELECT 'table', schema_name, table_name FROM duckdb_tables() WHERE {db} AND NOT internal
        UNION ALL
        SELECT 'view', schema_name, view_name FROM duckdb_views() WHERE {db} AND NOT internal
        UNION ALL
        SELECT 'sequence', schema_name, sequence_name FROM duckdb_sequences() WHERE {db}
        UNION ALL
        SELECT DISTINCT 'macro', schema_name, function_name FROM duckdb_functions()
            WHERE database_name = current_database() AND NOT internal
            AND function_type IN ('macro', 'table_macro')
        ORDER BY 1, 2, 3
        """
    ).fetchall()
    return [(kind, _qualified(schema, name)) for kind, schema, name in rows]


def _describe(objects: list[tuple[str, str]]) -> str:
    """'tables a, b, c' / 'tables a, b and sequence s', at most a few names in all."""
    by_kind: dict[str, list[str]] = {}
    for kind, name in objects:
        by_kind.setdefault(kind, []).append(name)
    parts, named = [], 0
    for kind in ("table", "view", "sequence", "macro"):
        names = by_kind.get(kind, [])
        if not names:
            continue
        shown = names[: max(_NAMED_OBJECTS - named, 1)]
        named += len(shown)
        more = f" and {len(names) - len(shown)} more" if len(names) > len(shown) else ""
        parts.append(f"{kind}{'s' if len(names) > 1 else ''} {', '.join(shown)}{more}")
    return "; ".join(parts)


def check_store(con: duckdb.DuckDBPyConnection, source: str) -> list[int]:
    """The migrations the open file still needs; refuse a file that is not ours to change.

    Runs before anything is written, so a refused file is left byte for byte as
    it was:

    - a DuckDB file holding anything, but no realimpact schema record, belongs
      to someone else: migrating it would mix our tables into theirs (or fail on
      a ``crimes`` table of their own);
    - a store recording a migration this version does not know was made by a
      newer realimpact: this version cannot know what its schema means, so it
      neither reads nor migrates it.

    A file with nothing in it (a new store) needs every migration.
    """
    objects = user_objects(con)
    own = ("table", "_migrations") in objects
    others = [o for o in objects if o != ("table", "_migrations")]
    if not own:
        if others:
            raise StoreRefusedError(
                f"not a realimpact store: it holds {_describe(others)} and no realimpact"
                " schema version; use a new --store path",
                source=source,
            )
        return [m[0] for m in MIGRATIONS]
    try:
        rows = con.execute("SELECT id, name FROM _migrations ORDER BY id").fetchall()
    except (duckdb.BinderException, duckdb.ConversionException):
        rows = None  # someone else's _migrations table, with other columns
    known = {mid: name for mid, name, _ in MIGRATIONS}
    if (
        rows is None
        or (not rows and others)
        or any(mid in known and name != known[mid] for mid, name in rows)
    ):
        raise StoreRefusedError(
            f"not a realimpact store: it holds {_describe(objects)} and its _migrations table"
            " is not realimpact's schema version; use a new --store path",
            source=source,
        )
    unknown = [(mid, name) for mid, name in rows if mid not in known]
    if unknown:
        latest, newest = max(known), max(mid for mid, _ in rows)
        if newest > latest:
            why = f"schema {newest}, this version knows up to {latest}"
        else:
            names = ", ".join(f"{mid} {name!r}" for mid, name in unknown)
            why = f"schema {newest} includes migrations this version does not know: {names}"
        raise StoreRefusedError(
            f"made by a newer realimpact ({why}): upgrade realimpact", source=source
        )
    done = {mid for mid, _ in rows}
    return [m[0] for m in MIGRATIONS if m[0] not in done]
