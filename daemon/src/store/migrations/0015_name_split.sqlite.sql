-- A name's gradual deployment: besides its current version, the version `split_id` serves
-- `split_bp` basis points (1-9999) of the requests that reach the name; NULL: the current
-- version serves them all.
ALTER TABLE worker_names ADD COLUMN split_id TEXT;
ALTER TABLE worker_names ADD COLUMN split_bp BIGINT;
