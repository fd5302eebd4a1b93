-- Tenant capabilities declared through the API: spec is the declaration's JSON text.
CREATE TABLE capabilities (
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    PRIMARY KEY (tenant, name)
) WITHOUT ROWID;
