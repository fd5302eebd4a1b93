-- Worker names (`name` in a WorkerCode): a tenant's name points at one of its definitions, the
-- name's current version, which requests by name, the name's Durable Objects and its triggers
-- use. Each definition made with a name keeps it in `workers.name` (its versions are found by it).
ALTER TABLE workers ADD COLUMN name TEXT COLLATE "C";
CREATE INDEX workers_by_name ON workers (tenant, name, created_ms);
CREATE TABLE worker_names (
    tenant TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    set_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant, name)
);
