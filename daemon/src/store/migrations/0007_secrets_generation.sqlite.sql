-- One row: a counter every change of `secrets` moves in its own transaction (SQLite has one
-- daemon per file, so nobody polls it; kept so both backends run the same logic).
CREATE TABLE secrets_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL
);
INSERT INTO secrets_generation (id, generation) VALUES (1, 0);
