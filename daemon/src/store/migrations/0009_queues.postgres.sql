-- Queues (`crate::queues`): each tenant's consumers (`triggers.queues` of a stored worker, at most
-- one per queue of a tenant; written and deleted with the definition) and its messages, kept until
-- acknowledged, dead-lettered or dropped. `visible_ms`: when a message may be delivered (its
-- delay, a retry's delay, or the end of the lease of a delivery under way); `attempts`: deliveries
-- so far.
CREATE TABLE queue_consumers (
    tenant TEXT COLLATE "C" NOT NULL,
    queue TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    settings TEXT NOT NULL,
    PRIMARY KEY (tenant, queue)
);
CREATE TABLE queue_messages (
    tenant TEXT COLLATE "C" NOT NULL,
    queue TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    content_type TEXT NOT NULL,
    body BYTEA NOT NULL,
    attempts BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    visible_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant, queue, id)
);
CREATE INDEX queue_messages_visible ON queue_messages (tenant, queue, visible_ms);
