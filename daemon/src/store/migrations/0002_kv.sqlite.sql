-- Key-value namespaces. expires_ms 0: never; metadata '': none (else JSON text).
CREATE TABLE kv (
    tenant TEXT NOT NULL,
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    metadata TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant, namespace, key)
) WITHOUT ROWID;
