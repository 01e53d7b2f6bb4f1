-- Words of the bot's messages per session (services/sync/records.py summarise_transcript),
-- for "words per bot message" on the Engagement tab. Null for transcripts stored before this
-- migration until a full sync fetches them again.
ALTER TABLE session_aggregates ADD COLUMN ai_words integer;
