-- A name's cron triggers as a `PUT /v1/workers/{name}/triggers` set them (a JSON array), kept
-- when the name moves to a version whose definition has no crons of its own; NULL: the current
-- version's definition's apply.
ALTER TABLE worker_names ADD COLUMN crons TEXT;
