-- Queues: which daemon holds a message's lease. `holder` is the claiming daemon's id (its
-- data_dir's `daemon.id`, `serve/daemon_id.rs`), set by a claim and cleared when the message is
-- retried or dead-lettered (an ack or a drop deletes the row); NULL for a message no daemon holds,
-- and for one claimed before this version. A daemon restarted on its data_dir makes the messages
-- its id holds deliverable at once (`store::queues::release_held`): its predecessor is dead. The
-- index holds only the leased rows.
ALTER TABLE queue_messages ADD COLUMN holder TEXT;
CREATE INDEX queue_messages_holder ON queue_messages (holder) WHERE holder IS NOT NULL;
