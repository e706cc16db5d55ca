"""The mailbox's statements. Each applies a rule in one statement (ADR 0004): claim
(domain/mailbox_rules.py claimable), ack and delete (spent), escalation, prune."""

from __future__ import annotations

from adapters.postgres.database import SOFT

# Many sends share one commit (group commit): the messages of a batch and all their
# deliveries go in one statement; ORDER BY n gives deliveries their seq in batch
# order, which is arrival order. A delivery with an offer ($19-$23: the session's
# connection, presence, session id, admitted priorities as 'now,next', lease end;
# NULL without one) is leased to it in the same insert when
# domain/mailbox_rules.py leasable holds ($24 is now): that presence is still live on
# that connection, and none of the member's older deliveries waits that it could
# claim (the claim's predicate below, through the deliveries_waiting index, on
# rows committed before this statement; a batch's own deliveries to one member share
# one offer, so they are leased alike). RETURNING names the leased ones.
ENQUEUE = """
WITH message AS (
    INSERT INTO mesh.messages
        (id, mesh_id, sender_member_id, sender_pubkey, sender_presence_id, priority,
         nonce, ciphertext, created_at, expires_at, escalate_at)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                         $6::text[], $7::text[], $8::text[], $9::timestamptz[],
                         $10::timestamptz[], $11::timestamptz[])
), offered AS (
    SELECT d.*,
           CASE WHEN d.lease_to IS NOT NULL
                 AND EXISTS (
                     SELECT 1 FROM mesh.presences p
                     WHERE p.id = d.lease_presence AND p.connection_id = d.lease_to
                       AND p.ended_at IS NULL)
                 AND NOT EXISTS (
                     SELECT 1 FROM mesh.deliveries o
                     WHERE o.member_id = d.member_id
                       AND (o.lease_until IS NULL OR o.lease_until <= $24)
                       AND o.sender_presence_id <> d.lease_presence
                       AND o.priority = ANY(string_to_array(d.lease_admits, ','))
                       AND o.expires_at + interval '0 s' > $24
                       AND (o.target_session_id IS NULL
                            OR o.target_session_id = d.lease_session
                            OR NOT EXISTS (
                                SELECT 1 FROM mesh.presences t
                                WHERE t.member_id = o.member_id
                                  AND t.session_id = o.target_session_id
                                  AND t.ended_at IS NULL)))
                THEN d.lease_to END AS leased_to
    FROM unnest($12::text[], $13::text[], $14::text[], $15::text[], $16::timestamptz[],
                $17::timestamptz[], $18::text[], $19::text[], $20::text[], $21::text[],
                $22::text[], $23::timestamptz[])
         WITH ORDINALITY
         AS d(message_id, member_id, priority, sender_presence_id, expires_at,
              escalate_at, target_session_id, lease_to, lease_presence, lease_session,
              lease_admits, lease_until, n)
)
INSERT INTO mesh.deliveries
    (message_id, member_id, priority, sender_presence_id, expires_at, escalate_at,
     target_session_id, leased_to, lease_until)
SELECT message_id, member_id, priority, sender_presence_id, expires_at, escalate_at,
       target_session_id, leased_to, CASE WHEN leased_to IS NOT NULL THEN lease_until END
FROM offered
ORDER BY n
RETURNING message_id, member_id, leased_to IS NOT NULL AS leased
"""


# Pick the member's claimable deliveries in queue order, skipping rows another
# claimer holds locked; lease them; return their messages. RETURNING has no order,
# so the final SELECT sorts by seq. The target-session condition is
# domain.delivery.claimable_by: a message for one session ($8 is the claimer's) waits
# while that session has an unended presence, in the same snapshot as the claim.
# The rest of the predicate is domain/mailbox_rules.py claimable.
CLAIM = f"""
WITH {SOFT}, picked AS (
    SELECT d.seq FROM mesh.deliveries d
    WHERE d.member_id = $1
      AND d.sender_presence_id <> $2
      AND d.priority = ANY($4::text[])
      -- `+ interval '0 s'`: keeps the planner off deliveries_expires_at. With the
      -- target-session OR below, its generic plan otherwise ANDs that index in,
      -- reading every delivery's entry on each claim (Postgres CPU per message
      -- doubled; docs/benchmarks.md, end of the 6 December round).
      AND d.expires_at + interval '0 s' > $5
      AND (d.lease_until IS NULL OR d.lease_until <= $5)
      AND (d.target_session_id IS NULL
           OR d.target_session_id = $8
           OR NOT EXISTS (
               SELECT 1 FROM mesh.presences p
               WHERE p.member_id = d.member_id AND p.session_id = d.target_session_id
                 AND p.ended_at IS NULL))
    ORDER BY d.seq
    LIMIT $7
    FOR UPDATE SKIP LOCKED
), leased AS (
    UPDATE mesh.deliveries d SET leased_to = $3, lease_until = $6
    FROM picked, soft WHERE d.seq = picked.seq
    RETURNING d.seq, d.message_id, d.target_session_id
)
SELECT m.id, m.mesh_id, m.sender_member_id, m.sender_pubkey, m.sender_presence_id,
       m.priority, m.nonce, m.ciphertext, m.created_at, m.expires_at, m.escalate_at,
       leased.target_session_id
FROM leased JOIN mesh.messages m ON m.id = leased.message_id
ORDER BY leased.seq
"""


# CLAIM for several sessions at once (claims in flight together: a hello storm's
# claims of each new session's waiting mail, many drains under load): item i is CLAIM
# with the i-th element of each array. The caller never puts two claims of one member
# in one statement (in one transaction SKIP LOCKED would not keep them apart).
# Rows come back ordered by item (`n`), then queue order.
CLAIM_MANY = f"""
WITH {SOFT}, c AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                         $5::timestamptz[], $6::timestamptz[], $7::int[], $8::text[])
        WITH ORDINALITY
        AS c(member_id, presence_id, connection_id, admits, now, lease_until, lim,
             session_id, n)
), picked AS (
    SELECT c.n, c.connection_id, c.lease_until, p.seq
    FROM c CROSS JOIN LATERAL (
        SELECT d.seq FROM mesh.deliveries d
        WHERE d.member_id = c.member_id
          AND d.sender_presence_id <> c.presence_id
          AND d.priority = ANY(string_to_array(c.admits, ','))
          AND d.expires_at + interval '0 s' > c.now
          AND (d.lease_until IS NULL OR d.lease_until <= c.now)
          AND (d.target_session_id IS NULL
               OR d.target_session_id = c.session_id
               OR NOT EXISTS (
                   SELECT 1 FROM mesh.presences t
                   WHERE t.member_id = d.member_id AND t.session_id = d.target_session_id
                     AND t.ended_at IS NULL))
        ORDER BY d.seq
        LIMIT c.lim
        FOR UPDATE SKIP LOCKED
    ) p
), leased AS (
    UPDATE mesh.deliveries d SET leased_to = picked.connection_id,
                                 lease_until = picked.lease_until
    FROM picked, soft WHERE d.seq = picked.seq
    RETURNING picked.n, d.seq, d.message_id, d.target_session_id
)
SELECT leased.n, m.id, m.mesh_id, m.sender_member_id, m.sender_pubkey,
       m.sender_presence_id, m.priority, m.nonce, m.ciphertext, m.created_at,
       m.expires_at, m.escalate_at, leased.target_session_id
FROM leased JOIN mesh.messages m ON m.id = leased.message_id
ORDER BY leased.n, leased.seq
"""


# Delete a batch of acked (member, message) deliveries, and the messages this leaves
# without any delivery (domain/mailbox_rules.py spent). (The snapshot still shows the rows deleted here, hence `NOT IN acked`.
# Two members acking the last two deliveries of a message at the same instant can
# each see the other's row and leave the message behind; prune removes it when it
# expires.)
ACK = f"""
WITH {SOFT}, acked AS (
    DELETE FROM mesh.deliveries d
    USING unnest($1::text[], $2::text[], $3::timestamptz[]) AS w(member_id, message_id, at),
          soft
    WHERE d.member_id = w.member_id AND d.message_id = w.message_id
    RETURNING d.seq, d.member_id, d.message_id, w.at, d.priority
), emptied AS (
    DELETE FROM mesh.messages m
    WHERE m.id IN (SELECT message_id FROM acked)
      AND NOT EXISTS (
          SELECT 1 FROM mesh.deliveries d
          WHERE d.message_id = m.id AND d.seq NOT IN (SELECT seq FROM acked)
      )
), kept AS (
    -- the `acked` receipt, in the same statement (ADR 0027): receipts.advances, as
    -- in PostgresReceipts (a row changes only while it is `pushed`)
    -- (escalated: the delivery's priority was raised above the message's, so the
    -- flag holds even when the ack lands before the escalated push's own receipt)
    INSERT INTO mesh.receipts AS r
        (message_id, member_id, mesh_id, sender_member_id, sender_presence_id, state, at,
         escalated)
    SELECT a.message_id, a.member_id, m.mesh_id, m.sender_member_id, m.sender_presence_id,
           'acked', a.at, a.priority <> m.priority
    FROM acked a JOIN mesh.messages m ON m.id = a.message_id
    ON CONFLICT (message_id, member_id) DO UPDATE
        SET state = 'acked', at = EXCLUDED.at, escalated = r.escalated OR EXCLUDED.escalated
        WHERE r.state = 'pushed'
    RETURNING r.message_id, r.member_id, r.escalated
)
SELECT a.member_id, a.message_id, a.at, m.mesh_id, m.sender_member_id, m.sender_presence_id,
       k.message_id IS NOT NULL AS advanced, coalesce(k.escalated, false) AS escalated
FROM acked a JOIN mesh.messages m ON m.id = a.message_id
LEFT JOIN kept k ON k.message_id = a.message_id AND k.member_id = a.member_id
"""


# Raise to `now` the deliveries whose escalation deadline passed (the partial index
# deliveries_escalate_at holds exactly the candidates).
ESCALATE = """
WITH raised AS (
    UPDATE mesh.deliveries SET priority = 'now'
    WHERE escalate_at IS NOT NULL AND priority <> 'now'
      AND escalate_at <= $1 AND expires_at > $1
    RETURNING member_id
)
SELECT DISTINCT member_id FROM raised
"""
PRUNE = """
WITH expired AS (
    DELETE FROM mesh.deliveries WHERE expires_at <= $1 RETURNING seq
), messages AS (
    DELETE FROM mesh.messages WHERE expires_at <= $1
)
SELECT count(*) FROM expired
"""


# Release the leases that ran out, and keep a `pushed` receipt for each of their
# deliveries that has none (domain/receipts.py pushed_when_leased: $2 is how long a
# lease lasts, so lease_until - $2 is when it was taken).
RELEASE_EXPIRED = """
WITH expired AS (
    SELECT seq, lease_until FROM mesh.deliveries WHERE lease_until <= $1 FOR UPDATE
), released AS (
    UPDATE mesh.deliveries d SET leased_to = NULL, lease_until = NULL
    FROM expired WHERE d.seq = expired.seq
    RETURNING d.member_id, d.message_id, d.priority, expired.lease_until
), kept AS (
    INSERT INTO mesh.receipts AS r
        (message_id, member_id, mesh_id, sender_member_id, sender_presence_id, state, at,
         escalated)
    SELECT x.message_id, x.member_id, m.mesh_id, m.sender_member_id, m.sender_presence_id,
           'pushed', x.lease_until - $2::interval, x.priority <> m.priority
    FROM released x JOIN mesh.messages m ON m.id = x.message_id
    ON CONFLICT (message_id, member_id) DO NOTHING
)
SELECT DISTINCT member_id FROM released
"""
