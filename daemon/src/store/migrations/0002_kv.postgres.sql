-- Key-value namespaces. expires_ms 0: never; metadata '': none (else JSON text).
CREATE TABLE kv (
    tenant TEXT COLLATE "C" NOT NULL,
    namespace TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    value BYTEA NOT NULL,
    metadata TEXT NOT NULL,
    expires_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant, namespace, key)
);
