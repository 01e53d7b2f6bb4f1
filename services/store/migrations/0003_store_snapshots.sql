-- A columnar copy of the current generation (services/store/postgres.py; docs/hosted.md
-- "Tables"): each table as Arrow IPC streams (LZ4), SNAPSHOT_ROWS rows per chunk, written by
-- the sync in the same transaction as the rows themselves. An instance with an empty disk
-- loads it instead of decoding every row of every table; the tables stay the source of truth
-- (a generation without a snapshot is read from the tables).

CREATE TABLE store_snapshots (
    generation  bigint NOT NULL,
    part        text NOT NULL,
    chunk       integer NOT NULL,
    data        bytea NOT NULL,
    PRIMARY KEY (generation, part, chunk)
);
-- the data is already compressed: keep PostgreSQL from compressing it again
ALTER TABLE store_snapshots ALTER COLUMN data SET STORAGE EXTERNAL;
