-- Queues: the lease of a message pulled over HTTP (`POST /v1/queues/{name}/messages/pull`).
-- `lease` is the SHA-256 (hex) of the secret part of the lease_id the puller was given, set by a
-- pull, cleared by any other claim, a retry or a dead-letter move (an ack or a drop deletes the
-- row); a pulled message has no `holder` (no daemon holds it, the HTTP client does), so a daemon's
-- restart does not release it: it is deliverable again when its visibility timeout
-- (`visible_ms`) ends. NULL for every message not leased by a pull.
ALTER TABLE queue_messages ADD COLUMN lease TEXT;
