-- Worker names (`name` in a WorkerCode): a tenant's name points at one of its definitions, the
-- name's current version, which requests by name, the name's Durable Objects and its triggers
-- use. Each definition made with a name keeps it in `workers.name` (its versions are found by it).
ALTER TABLE workers ADD COLUMN name TEXT;
CREATE INDEX workers_by_name ON workers (tenant, name, created_ms);
CREATE TABLE worker_names (
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    id TEXT NOT NULL,
    set_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant, name)
) WITHOUT ROWID;
