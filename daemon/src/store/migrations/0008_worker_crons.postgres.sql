-- Cron triggers of worker definitions (`triggers.crons`, also in the definition itself): the
-- scheduler lists them without reading any definition. Written with the definition, deleted with it.
CREATE TABLE worker_crons (
    tenant TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    cron TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, id, cron)
);
-- One row per scheduled run a daemon took on: daemons sharing the store run each (worker, cron,
-- time) once, whichever inserts it first. Rows older than a few minutes are deleted.
CREATE TABLE scheduled_claims (
    tenant TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    cron TEXT COLLATE "C" NOT NULL,
    scheduled_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant, id, cron, scheduled_ms)
);
