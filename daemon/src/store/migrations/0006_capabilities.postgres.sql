-- Tenant capabilities declared through the API: spec is the declaration's JSON text.
CREATE TABLE capabilities (
    tenant TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    spec TEXT NOT NULL,
    PRIMARY KEY (tenant, name)
);
