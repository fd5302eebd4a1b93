-- Expired key-value entries are swept by expiry (only rows that expire are indexed).
CREATE INDEX kv_expiry ON kv (expires_ms) WHERE expires_ms <> 0;
