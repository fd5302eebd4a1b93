-- One row: a counter every change of `secrets` moves in its own transaction. Daemons sharing the
-- store read it every `[store] secrets_poll_ms` and reload the secrets when it moved.
CREATE TABLE secrets_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL
);
INSERT INTO secrets_generation (id, generation) VALUES (1, 0);
