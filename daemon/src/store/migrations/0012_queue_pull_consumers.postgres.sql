-- Queues: the settings of a queue's HTTP pull consumer (`PUT /v1/queues/{name}/consumer`,
-- `crate::queues::pull::PullSettings`, JSON): its default batch size and visibility timeout, its
-- retries, retry delay and dead-letter queue. A queue pulled without a row here is pulled with
-- Cloudflare's defaults. A queue has one consumer: a worker's (`queue_consumers`) or this one.
CREATE TABLE queue_pull_consumers (
    tenant TEXT COLLATE "C" NOT NULL,
    queue TEXT COLLATE "C" NOT NULL,
    settings TEXT NOT NULL,
    PRIMARY KEY (tenant, queue)
);
