-- depends: 0001_initial
-- The sync's resume checkpoints (services/sync/checkpoint.py PostgresCheckpoints; docs/hosted.md
-- "Tables", docs/sync.md "Resume"). `team` is a hash of the OCS server and the API key, never the key.

-- The run in progress, per team: a header event, then one event per list page / transcript / …
-- appended as the sync makes progress (each insert committed). Cleared once the team's data is
-- in the store; a restarted dyno with an empty disk resumes from here.
CREATE TABLE sync_journal (
    team   text NOT NULL,
    seq    bigserial,
    event  jsonb NOT NULL,
    PRIMARY KEY (team, seq)
);

-- What outlives runs, per team: the rotating re-check positions, when each session's transcript
-- was last checked, when the experiments list was last read.
CREATE TABLE sync_state (
    team        text PRIMARY KEY,
    state       jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
