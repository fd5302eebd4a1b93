-- Workspaces: one row each with its usage (locked by writers), and their entries. An entry is
-- a file (dir 0) or a directory (dir 1, no data); paths are normalised, without a leading '/'.
CREATE TABLE workspaces (
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    files INTEGER NOT NULL,
    PRIMARY KEY (tenant, name)
) WITHOUT ROWID;
CREATE TABLE files (
    tenant TEXT NOT NULL,
    workspace TEXT NOT NULL,
    path TEXT NOT NULL,
    dir INTEGER NOT NULL,
    data BLOB NOT NULL,
    size INTEGER NOT NULL,
    mtime_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant, workspace, path)
) WITHOUT ROWID;
