-- Worker definitions (the Loader API's) and tenants' secrets set through the API (sealed).
CREATE TABLE workers (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    def BLOB NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
CREATE TABLE secrets (
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    sealed BLOB NOT NULL,
    PRIMARY KEY (tenant, name)
) WITHOUT ROWID;
