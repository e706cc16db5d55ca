"""The receipt store's statements (ADR 0027): the batched upsert that advances delivery
states, expiry of deliveries whose TTL passed, a message's facts per recipient for
`message_status`, and the retention prune."""

from __future__ import annotations

from adapters.postgres.database import SOFT

# receipts.advances, atomically: a row changes only while it is `pushed`; RETURNING
# yields exactly the transitions that advanced. `escalated`, once true, stays.
UPSERT = f"""
WITH {SOFT}
INSERT INTO mesh.receipts AS r
    (message_id, member_id, mesh_id, sender_member_id, sender_presence_id, state, at,
     escalated)
SELECT t.* FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                       $6::text[], $7::timestamptz[], $8::boolean[]) AS t, soft
ON CONFLICT (message_id, member_id) DO UPDATE
    SET state = EXCLUDED.state, at = EXCLUDED.at,
        escalated = r.escalated OR EXCLUDED.escalated
    WHERE r.state = 'pushed'
RETURNING r.message_id, r.member_id, r.escalated
"""

# Deliveries whose TTL passed and that the mailbox sweep is about to prune.
EXPIRE = f"""
WITH {SOFT}
INSERT INTO mesh.receipts AS r
    (message_id, member_id, mesh_id, sender_member_id, sender_presence_id, state, at)
SELECT d.message_id, d.member_id, m.mesh_id, m.sender_member_id, m.sender_presence_id,
       'expired', $1
FROM mesh.deliveries d JOIN mesh.messages m ON m.id = d.message_id, soft
WHERE d.expires_at <= $1
ON CONFLICT (message_id, member_id) DO UPDATE
    SET state = 'expired', at = EXCLUDED.at
    WHERE r.state = 'pushed'
RETURNING r.message_id, r.member_id, r.mesh_id, r.sender_member_id, r.sender_presence_id,
          r.state, r.at, r.escalated
"""

MESSAGE = """
SELECT mesh_id, sender_member_id, created_at FROM mesh.messages WHERE id = $1
UNION ALL
(SELECT mesh_id, sender_member_id, NULL FROM mesh.receipts WHERE message_id = $1 LIMIT 1)
LIMIT 1
"""

RECIPIENTS = """
SELECT coalesce(d.member_id, r.member_id) AS member_id,
       r.state, r.at, r.escalated,
       d.priority, d.expires_at, d.lease_until
FROM (SELECT member_id, priority, expires_at, lease_until
      FROM mesh.deliveries WHERE message_id = $1) d
FULL JOIN (SELECT member_id, state, at, escalated
           FROM mesh.receipts WHERE message_id = $1) r
  ON r.member_id = d.member_id
ORDER BY 1
"""

# Settled messages: every row acked or expired before the cutoff, no delivery left.
PRUNE = """
WITH doomed AS (
    SELECT r.message_id, r.member_id FROM mesh.receipts r
    WHERE r.state <> 'pushed' AND r.at < $1
      AND NOT EXISTS (
          SELECT 1 FROM mesh.receipts o
          WHERE o.message_id = r.message_id AND (o.state = 'pushed' OR o.at >= $1))
      AND NOT EXISTS (SELECT 1 FROM mesh.deliveries d WHERE d.message_id = r.message_id)
    ORDER BY r.at
    LIMIT $2
), gone AS (
    DELETE FROM mesh.receipts r USING doomed
    WHERE r.message_id = doomed.message_id AND r.member_id = doomed.member_id
    RETURNING 1
)
SELECT count(*) FROM gone
"""
