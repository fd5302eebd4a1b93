-- Queues (`crate::queues`): each tenant's consumers (`triggers.queues` of a stored worker, at most
-- one per queue of a tenant; written and deleted with the definition) and its messages, kept until
-- acknowledged, dead-lettered or dropped. `visible_ms`: when a message may be delivered (its
-- delay, a retry's delay, or the end of the lease of a delivery under way); `attempts`: deliveries
-- so far.
CREATE TABLE queue_consumers (
    tenant TEXT NOT NULL,
    queue TEXT NOT NULL,
    id TEXT NOT NULL,
    settings TEXT NOT NULL,
    PRIMARY KEY (tenant, queue)
) WITHOUT ROWID;
CREATE TABLE queue_messages (
    tenant TEXT NOT NULL,
    queue TEXT NOT NULL,
    id TEXT NOT NULL,
    content_type TEXT NOT NULL,
    body BLOB NOT NULL,
    attempts INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    visible_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant, queue, id)
) WITHOUT ROWID;
CREATE INDEX queue_messages_visible ON queue_messages (tenant, queue, visible_ms);
