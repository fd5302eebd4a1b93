-- Cron triggers of worker definitions (`triggers.crons`, also in the definition itself): the
-- scheduler lists them without reading any definition. Written with the definition, deleted with it.
CREATE TABLE worker_crons (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    cron TEXT NOT NULL,
    PRIMARY KEY (tenant, id, cron)
) WITHOUT ROWID;
-- One row per scheduled run a daemon took on: daemons sharing the store run each (worker, cron,
-- time) once, whichever inserts it first. Rows older than a few minutes are deleted.
CREATE TABLE scheduled_claims (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    cron TEXT NOT NULL,
    scheduled_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant, id, cron, scheduled_ms)
) WITHOUT ROWID;
