-- Receipts, message status and escalation (spec/receipts.md, ADR 0027).

-- escalateAfterSeconds: the deadline after which an undelivered `next`/`low`
-- delivery is raised to `now` by the escalation sweep. NULL for nearly every
-- message, so adding the columns rewrites nothing and the partial index stays tiny.
ALTER TABLE mesh.messages ADD COLUMN escalate_at timestamptz;
ALTER TABLE mesh.deliveries ADD COLUMN escalate_at timestamptz;

-- the escalation sweep: deliveries still waiting for their deadline
CREATE INDEX deliveries_escalate_at ON mesh.deliveries (escalate_at)
    WHERE escalate_at IS NOT NULL AND priority <> 'now';

-- One row per (message, recipient member) once the message was pushed to it, or
-- its TTL passed: the delivery state kept after the mailbox is done with it. Written
-- in batches beside the hot path (never by claim or enqueue), changed only while
-- `pushed` (states move forward), pruned in batches RECEIPT_RETENTION_SECONDS after
-- the message's last recipient settled. The sender is copied here so that a status
-- query and a receipt need no other row once the message is gone.
CREATE TABLE mesh.receipts (
    message_id          text NOT NULL,
    member_id           text NOT NULL,
    mesh_id             text NOT NULL,
    sender_member_id    text NOT NULL,
    sender_presence_id  text NOT NULL,
    state               text NOT NULL CHECK (state IN ('pushed', 'acked', 'expired')),
    at                  timestamptz NOT NULL,
    escalated           boolean NOT NULL DEFAULT false,
    PRIMARY KEY (message_id, member_id)
);

-- the retention sweep: settled rows, oldest first
CREATE INDEX receipts_settled_at ON mesh.receipts (at) WHERE state <> 'pushed';
