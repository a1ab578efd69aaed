"""The store's schema, as an ordered list of migrations.

Migration N brings the schema from version N-1 to N; ``meta.schema_version`` records the
version a file is at. Never edit a released migration: append a new one.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
    CREATE TABLE scans (
        id VARCHAR PRIMARY KEY,
        name VARCHAR,
        kind VARCHAR NOT NULL,            -- scan | import
        source VARCHAR NOT NULL,          -- scan, shodan, censys, zgrab2, nmap-xml, ...
        started_at TIMESTAMPTZ NOT NULL,
        finished_at TIMESTAMPTZ,
        status VARCHAR NOT NULL,          -- running | finished | failed
        params JSON,
        targets_total BIGINT
    );
    CREATE TABLE transcripts (
        scan VARCHAR NOT NULL,
        ip VARCHAR NOT NULL,
        port INTEGER NOT NULL,
        protocol VARCHAR NOT NULL,
        transport VARCHAR NOT NULL,
        observed_at TIMESTAMPTZ NOT NULL,
        outcome VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        data JSON NOT NULL                -- the whole Transcript, lossless (serialize.py)
    );
    CREATE TABLE services (
        scan VARCHAR NOT NULL,
        ip VARCHAR NOT NULL,
        port INTEGER NOT NULL,
        protocol VARCHAR NOT NULL,
        transport VARCHAR NOT NULL,
        observed_at TIMESTAMPTZ NOT NULL,
        outcome VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        hostname VARCHAR,
        vendor VARCHAR,
        product VARCHAR NOT NULL,
        product_line VARCHAR,
        version VARCHAR,
        version_key VARCHAR,              -- sortable key of version (versions/ package)
        precision VARCHAR NOT NULL,
        release VARCHAR,
        confidence VARCHAR,
        distro VARCHAR,
        evidence VARCHAR[],
        eol BOOLEAN,
        eol_line VARCHAR,
        eol_date DATE,
        kev BOOLEAN NOT NULL,             -- any finding on a KEV CVE vulnerable/potentially
        worst_status VARCHAR NOT NULL,    -- most severe CVE status of the service
        country VARCHAR,
        continent VARCHAR,
        region VARCHAR,
        asn INTEGER,
        org VARCHAR,
        city VARCHAR,
        geo_source VARCHAR,
        banner VARCHAR,
        record JSON NOT NULL              -- the exported JSONL record
    );
    CREATE TABLE findings (
        scan VARCHAR NOT NULL,
        ip VARCHAR NOT NULL,
        port INTEGER NOT NULL,
        cve VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        kev BOOLEAN NOT NULL,
        ransomware BOOLEAN NOT NULL,
        cvss DOUBLE,
        reason VARCHAR NOT NULL,
        fixed_in VARCHAR,
        tags VARCHAR[]
    );
    CREATE TABLE progress (
        scan VARCHAR NOT NULL,
        shard VARCHAR NOT NULL,           -- worker/shard key
        position BIGINT NOT NULL,         -- index in the permuted target order, all below done
        updated_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (scan, shard)
    );
    """,
    # 2: resume needs the positions below the checkpoint still in flight at the last commit
    """
    ALTER TABLE progress ADD COLUMN pending JSON;
    """,
    # 3: transcripts.data as zstd-compressed VARCHAR. The JSON type validated every document
    # on insert and DuckDB's default string compression analysis at checkpoint cost more than
    # the rest of the import (bench/import_speed.py); readers orjson.loads it either way, and
    # serialize.py is what writes it. DuckDB cannot alter a column's compression: rebuild.
    """
    CREATE TABLE transcripts_v3 (
        scan VARCHAR NOT NULL,
        ip VARCHAR NOT NULL,
        port INTEGER NOT NULL,
        protocol VARCHAR NOT NULL,
        transport VARCHAR NOT NULL,
        observed_at TIMESTAMPTZ NOT NULL,
        outcome VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        data VARCHAR USING COMPRESSION zstd NOT NULL  -- the whole Transcript as JSON text
    );
    INSERT INTO transcripts_v3 SELECT scan, ip, port, protocol, transport, observed_at,
        outcome, source, CAST(data AS VARCHAR) FROM transcripts;
    DROP TABLE transcripts;
    ALTER TABLE transcripts_v3 RENAME TO transcripts;
    """,
    # 4: services.record as zstd-compressed VARCHAR, for the reason of migration 3: a record
    # is ~4 KB (every CVE verdict with its reason) and DuckDB's default dictionary/FSST
    # analysis of it cost ~100 us per service, most of the analysis (bench/analysis.py);
    # zstd costs a fifth of that and stores it in a thirtieth of the space (the records of
    # one product and version differ in a few fields). The pipeline writes it with orjson.
    """
    CREATE TABLE services_v4 (
        scan VARCHAR NOT NULL,
        ip VARCHAR NOT NULL,
        port INTEGER NOT NULL,
        protocol VARCHAR NOT NULL,
        transport VARCHAR NOT NULL,
        observed_at TIMESTAMPTZ NOT NULL,
        outcome VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        hostname VARCHAR,
        vendor VARCHAR,
        product VARCHAR NOT NULL,
        product_line VARCHAR,
        version VARCHAR,
        version_key VARCHAR,
        precision VARCHAR NOT NULL,
        release VARCHAR,
        confidence VARCHAR,
        distro VARCHAR,
        evidence VARCHAR[],
        eol BOOLEAN,
        eol_line VARCHAR,
        eol_date DATE,
        kev BOOLEAN NOT NULL,
        worst_status VARCHAR NOT NULL,
        country VARCHAR,
        continent VARCHAR,
        region VARCHAR,
        asn INTEGER,
        org VARCHAR,
        city VARCHAR,
        geo_source VARCHAR,
        banner VARCHAR,
        record VARCHAR USING COMPRESSION zstd NOT NULL  -- the exported JSONL record
    );
    INSERT INTO services_v4 SELECT * REPLACE (CAST(record AS VARCHAR) AS record) FROM services;
    DROP TABLE services;
    ALTER TABLE services_v4 RENAME TO services;
    """,
    # 5: the analysis stores what follows from a service's identification and assessment once
    # per distinct pair (a "profile") instead of once per service. An Exchange service has
    # ~16 CVE verdicts and a ~4 KB record; writing those per service was most of an import
    # (bench/data.py). Services carry their profile (pid) and location (gid); the view
    # `findings` puts the rows together as readers always saw them, and Store.iter_records
    # the record (its own columns around the profile's and the location's parts). Rows
    # written before (and by the reference path, Store.write_services) stay flat:
    # finding_rows, services.record.
    """
    ALTER TABLE findings RENAME TO finding_rows;
    ALTER TABLE services ALTER COLUMN record DROP NOT NULL;
    ALTER TABLE services ADD COLUMN pid BIGINT;
    ALTER TABLE services ADD COLUMN gid BIGINT;
    CREATE TABLE profiles (
        scan VARCHAR NOT NULL,
        pid BIGINT NOT NULL,
        part VARCHAR USING COMPRESSION zstd NOT NULL  -- vendor ... remediation of the record
    );
    CREATE TABLE locations (
        scan VARCHAR NOT NULL,
        gid BIGINT NOT NULL,
        part VARCHAR NOT NULL                         -- country ... org of the record
    );
    CREATE TABLE verdicts (
        scan VARCHAR NOT NULL,
        pid BIGINT NOT NULL,
        cve VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        kev BOOLEAN NOT NULL,
        ransomware BOOLEAN NOT NULL,
        cvss DOUBLE,
        reason VARCHAR NOT NULL,
        fixed_in VARCHAR,
        tags VARCHAR[]
    );
    CREATE VIEW findings AS
        SELECT scan, ip, port, cve, status, kev, ransomware, cvss, reason, fixed_in, tags
        FROM finding_rows
        UNION ALL
        SELECT s.scan, s.ip, s.port, v.cve, v.status, v.kev, v.ransomware, v.cvss, v.reason,
               v.fixed_in, v.tags
        FROM services s JOIN verdicts v ON v.scan = s.scan AND v.pid = s.pid;
    """,
    # 6: a transcript's banner steps and TLS facts stored once per distinct value. The
    # columnar Shodan import writes each record's own fields to transcripts.data (its JSON
    # text without the closing brace) and names the shared parts (steps_part, tls_part); the
    # view `transcript_docs` gives every transcript whole, as readers always saw it. DuckDB's
    # zstd cost grows with the text: storing ~1 KB per record was the largest part of an
    # import (bench/data.py). Rows with no parts keep their whole JSON in data. seq: the
    # order an import read its records in, so that a host's services are analysed in one
    # order however the import was batched (a port seen twice: which comes first).
    """
    ALTER TABLE transcripts ADD COLUMN steps_part BIGINT;
    ALTER TABLE transcripts ADD COLUMN tls_part BIGINT;
    ALTER TABLE transcripts ADD COLUMN seq BIGINT;    -- an import's order (file order)
    CREATE TABLE transcript_parts (
        scan VARCHAR NOT NULL,
        id BIGINT NOT NULL,
        part VARCHAR USING COMPRESSION zstd NOT NULL  -- JSON text: steps, or tls
    );
    CREATE VIEW transcript_docs AS
        SELECT t.scan, t.ip, t.port, t.protocol, t.transport, t.observed_at, t.outcome,
               t.source, t.seq,
               CASE WHEN t.steps_part IS NULL THEN t.data
                    ELSE concat(t.data, ',"steps":', s.part, ',"tls":', coalesce(x.part, 'null'),
                                '}') END AS data
        FROM transcripts t
        LEFT JOIN transcript_parts s ON s.scan = t.scan AND s.id = t.steps_part
        LEFT JOIN transcript_parts x ON x.scan = t.scan AND x.id = t.tls_part;
    """,
    # 7: watches (mxcensus.watch): standing watch lists, their runs, the change events
    # between consecutive runs, mutes, and the notification outbox. scan_names: where the
    # hostname a scan probed an address under came from (a watched domain's MX, its
    # Autodiscover/OWA names …); exports read it as hostname_source. A run is done when its
    # row says so; its events are written in the same transaction, so a killed run leaves
    # none of them. A notification is stored whole (message or JSON body) before it is sent:
    # a resend after a crash repeats the same ticket and Message-ID (watch/delivery.py).
    """
    CREATE TABLE watches (
        name VARCHAR PRIMARY KEY,
        spec VARCHAR NOT NULL,            -- JSON: watch.spec.Watch
        created_at TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE watch_runs (
        id VARCHAR PRIMARY KEY,
        watch VARCHAR NOT NULL,
        started_at TIMESTAMPTZ NOT NULL,
        finished_at TIMESTAMPTZ,
        status VARCHAR NOT NULL,          -- running | done | failed | abandoned
        scan VARCHAR,                     -- the scan or import of this run's observations
        kind VARCHAR NOT NULL,            -- scan | feed
        feed_day VARCHAR,                 -- feed runs: the day of the files imported
        problems VARCHAR                  -- JSON list of one-line problems
    );
    CREATE TABLE watch_feed_files (
        watch VARCHAR NOT NULL,
        sha256 VARCHAR NOT NULL,
        path VARCHAR NOT NULL,
        run VARCHAR NOT NULL,
        PRIMARY KEY (watch, sha256)
    );
    CREATE TABLE scan_names (
        scan VARCHAR NOT NULL,
        ip VARCHAR NOT NULL,
        hostname VARCHAR NOT NULL,
        source VARCHAR NOT NULL,          -- mx:example.org, autodiscover:example.org …
        domain VARCHAR
    );
    CREATE SEQUENCE watch_event_ids START 1;
    CREATE TABLE watch_events (
        id BIGINT PRIMARY KEY,
        watch VARCHAR NOT NULL,
        run VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        kind VARCHAR NOT NULL,            -- new, gone, vulnerable, potentially-vulnerable, kev,
                                          -- eol, fixed, version-changed, problem
        ip VARCHAR,
        port INTEGER,
        protocol VARCHAR,
        cve VARCHAR,
        hostname VARCHAR,
        domain VARCHAR,
        asn INTEGER,
        summary VARCHAR NOT NULL,
        evidence VARCHAR NOT NULL,        -- JSON: what was seen before and now
        state VARCHAR NOT NULL,           -- open | notified | acked | muted | unrouted
        ticket VARCHAR,
        contact VARCHAR,
        state_at TIMESTAMPTZ
    );
    CREATE SEQUENCE watch_mute_ids START 1;
    CREATE TABLE watch_mutes (
        id BIGINT PRIMARY KEY,
        what VARCHAR NOT NULL,            -- host | cve | owner
        value VARCHAR NOT NULL,
        watch VARCHAR,                    -- NULL: every watch
        until TIMESTAMPTZ,
        note VARCHAR,
        created_at TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE watch_outbox (
        ticket VARCHAR NOT NULL,
        channel VARCHAR NOT NULL,         -- email | webhook
        watch VARCHAR NOT NULL,
        contact VARCHAR NOT NULL,
        target VARCHAR NOT NULL,          -- addresses, or the webhook URL
        created_at TIMESTAMPTZ NOT NULL,
        state VARCHAR NOT NULL,           -- pending | sent | dry-run
        attempts INTEGER NOT NULL,
        next_attempt TIMESTAMPTZ NOT NULL,
        last_error VARCHAR,
        sent_at TIMESTAMPTZ,
        message_id VARCHAR,
        payload VARCHAR NOT NULL,         -- the whole message (RFC 5322) or the JSON body
        PRIMARY KEY (ticket, channel)
    );
    """,
    # 8: a scan's derived rows (services, findings, profiles, locations, verdicts) belong to
    # a generation (gen); scans.gen names the one readers see, through views named as the
    # tables were. Re-analysis writes a new generation in batches and switches scans.gen in
    # one short transaction, so a kill leaves the old rows or the new ones, never a mix
    # (store/db.py, Store.replacing_derived). stale: rows to remove — a generation that lost
    # or never won the switch, or (gen NULL) every row of a scan deleted or of an import that
    # failed — collected when the store is next opened for writing if not at once.
    """
    ALTER TABLE scans ADD COLUMN gen BIGINT DEFAULT 0;
    DROP VIEW findings;
    ALTER TABLE services RENAME TO service_rows;
    ALTER TABLE service_rows ADD COLUMN gen BIGINT DEFAULT 0;
    ALTER TABLE finding_rows ADD COLUMN gen BIGINT DEFAULT 0;
    ALTER TABLE profiles RENAME TO profile_rows;
    ALTER TABLE profile_rows ADD COLUMN gen BIGINT DEFAULT 0;
    ALTER TABLE locations RENAME TO location_rows;
    ALTER TABLE location_rows ADD COLUMN gen BIGINT DEFAULT 0;
    ALTER TABLE verdicts RENAME TO verdict_rows;
    ALTER TABLE verdict_rows ADD COLUMN gen BIGINT DEFAULT 0;
    CREATE TABLE stale (scan VARCHAR NOT NULL, gen BIGINT);
    CREATE VIEW services AS SELECT r.* EXCLUDE (gen) FROM service_rows r
        SEMI JOIN scans x ON x.id = r.scan AND x.gen = r.gen;
    CREATE VIEW profiles AS SELECT r.* EXCLUDE (gen) FROM profile_rows r
        SEMI JOIN scans x ON x.id = r.scan AND x.gen = r.gen;
    CREATE VIEW locations AS SELECT r.* EXCLUDE (gen) FROM location_rows r
        SEMI JOIN scans x ON x.id = r.scan AND x.gen = r.gen;
    CREATE VIEW verdicts AS SELECT r.* EXCLUDE (gen) FROM verdict_rows r
        SEMI JOIN scans x ON x.id = r.scan AND x.gen = r.gen;
    CREATE VIEW findings AS
        SELECT f.scan, f.ip, f.port, f.cve, f.status, f.kev, f.ransomware, f.cvss, f.reason,
               f.fixed_in, f.tags
        FROM finding_rows f SEMI JOIN scans x ON x.id = f.scan AND x.gen = f.gen
        UNION ALL
        SELECT s.scan, s.ip, s.port, v.cve, v.status, v.kev, v.ransomware, v.cvss, v.reason,
               v.fixed_in, v.tags
        FROM service_rows s
        JOIN verdict_rows v ON v.scan = s.scan AND v.gen = s.gen AND v.pid = s.pid
        SEMI JOIN scans x ON x.id = s.scan AND x.gen = s.gen;
    """,
    # 9: one service per endpoint and scan. Several observations of one ip:port (an import
    # holding two crawls) are merged: the newest is the service, the others stay as history
    # in the transcripts; merged is the record's "merged" field (JSON text), NULL otherwise.
    """
    ALTER TABLE service_rows ADD COLUMN merged VARCHAR;
    """,
    # 10: sharded scans (store/cluster.py). shard_attempts: each attempt of each stream of a
    # cluster scan (a Ray task; a failed one is retried under the next number), for the
    # per-shard summary and for numbering on across resumes. parts_ingested: the Parquet
    # parts `mxcensus ingest` has brought in, each in the transaction that stored its rows,
    # so an ingest run again (or a retried shard ingested twice) adds nothing.
    """
    CREATE TABLE shard_attempts (
        scan VARCHAR NOT NULL,
        stream VARCHAR NOT NULL,          -- the stream's progress key
        attempt INTEGER NOT NULL,         -- 1, 2, ... across the scan's runs
        node VARCHAR,                     -- where it ran (a Ray node id)
        started_at TIMESTAMPTZ NOT NULL,
        ended_at TIMESTAMPTZ,
        status VARCHAR NOT NULL,          -- running | done | failed | stopped
        probed BIGINT NOT NULL DEFAULT 0, -- results it delivered and the store kept
        error VARCHAR,
        PRIMARY KEY (scan, stream, attempt)
    );
    CREATE TABLE parts_ingested (
        scan VARCHAR NOT NULL,
        shard INTEGER NOT NULL,
        part VARCHAR NOT NULL,            -- its file name in the shard's directory
        sha256 VARCHAR NOT NULL,
        rows BIGINT NOT NULL,
        ingested_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (scan, shard, part)
    );
    """,
)

LATEST = len(MIGRATIONS)
