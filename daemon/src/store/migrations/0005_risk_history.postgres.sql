-- Each tenant's risk history and operator pin (stockade_cordon::TenantSnapshot as JSON), taken
-- at Unix ms `taken_ms`; a restart restores it, decayed by the time that passed.
CREATE TABLE risk_history (
    tenant TEXT PRIMARY KEY,
    snapshot BYTEA NOT NULL,
    taken_ms BIGINT NOT NULL
);
