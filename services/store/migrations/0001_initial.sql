-- The dashboard's store in PostgreSQL (services/store/postgres.py; docs/hosted.md "Tables").
-- Every data row carries `generation`: the sync generation that last inserted or changed it.
-- A sync writes all tables and one store_generations row in a single transaction.

CREATE TABLE store_generations (
    generation    bigint PRIMARY KEY,
    written_at    timestamptz NOT NULL DEFAULT now(),
    sessions      integer NOT NULL,
    rows_changed  integer NOT NULL,
    rows_deleted  integer NOT NULL,
    meta          jsonb NOT NULL
);

CREATE TABLE sessions (
    session_id              text PRIMARY KEY,
    url                     text,
    team_slug               text NOT NULL,
    team_name               text,
    experiment_id           text,
    experiment_name         text,
    participant_identifier  text,
    participant_remote_id   text,
    created_at              timestamptz,
    updated_at              timestamptz,
    status                  text,
    platform                text,
    generation              bigint NOT NULL
);
CREATE INDEX sessions_team_created ON sessions (team_slug, created_at);

CREATE TABLE session_tags (
    session_id  text NOT NULL REFERENCES sessions (session_id) ON DELETE CASCADE,
    position    integer NOT NULL,
    tag         text NOT NULL,
    generation  bigint NOT NULL,
    PRIMARY KEY (session_id, position)
);
CREATE INDEX session_tags_tag ON session_tags (tag);

CREATE TABLE session_aggregates (
    session_id             text PRIMARY KEY REFERENCES sessions (session_id) ON DELETE CASCADE,
    has_transcript         boolean NOT NULL,
    human_messages         integer,
    ai_messages            integer,
    first_message_at       timestamptz,
    last_message_at        timestamptz,
    user_words             integer,
    versions               text[],
    thumbs_up              integer,
    thumbs_down            integer,
    cost_usd               double precision,
    appreciation_hits      integer,
    dissatisfaction_hits   integer,
    transcript_fetched_at  timestamptz,
    generation             bigint NOT NULL
);

CREATE TABLE session_costs (
    session_id  text NOT NULL REFERENCES sessions (session_id) ON DELETE CASCADE,
    position    integer NOT NULL,
    model       text,
    cost_usd    double precision,
    tokens      bigint,
    generation  bigint NOT NULL,
    PRIMARY KEY (session_id, position)
);

CREATE TABLE experiments (
    experiment_id    text PRIMARY KEY,
    team_slug        text,
    name             text,
    description      text,
    working_version  integer,
    generation       bigint NOT NULL
);

CREATE TABLE experiment_versions (
    experiment_id   text NOT NULL,
    version_number  integer NOT NULL,
    is_default      boolean,
    description     text,
    generation      bigint NOT NULL,
    PRIMARY KEY (experiment_id, version_number)
);
