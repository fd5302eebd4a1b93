-- Workspaces: one row each with its usage (locked by writers), and their entries. An entry is
-- a file (dir 0) or a directory (dir 1, no data); paths are normalised, without a leading '/'.
CREATE TABLE workspaces (
    tenant TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    bytes BIGINT NOT NULL,
    files BIGINT NOT NULL,
    PRIMARY KEY (tenant, name)
);
CREATE TABLE files (
    tenant TEXT COLLATE "C" NOT NULL,
    workspace TEXT COLLATE "C" NOT NULL,
    path TEXT COLLATE "C" NOT NULL,
    dir BIGINT NOT NULL,
    data BYTEA NOT NULL,
    size BIGINT NOT NULL,
    mtime_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant, workspace, path)
);
