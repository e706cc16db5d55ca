-- Claude Code sessions as first-class peers (issue 13, ADR 0022):
--
-- 1. A fourth status, `waiting` (blocked on a person): presences and pending hook
--    signals may hold it. The TTL sweep still flips only `working`.

ALTER TABLE mesh.presences DROP CONSTRAINT presences_status_check;
ALTER TABLE mesh.presences ADD CONSTRAINT presences_status_check
    CHECK (status IN ('idle', 'working', 'dnd', 'waiting'));

ALTER TABLE mesh.pending_signals DROP CONSTRAINT pending_signals_status_check;
ALTER TABLE mesh.pending_signals ADD CONSTRAINT pending_signals_status_check
    CHECK (status IN ('idle', 'working', 'dnd', 'waiting'));

-- 2. A direct message to one session (`targetSpec` `<pubkey>/<sessionId>`): the
--    delivery names that session. Claim applies domain.delivery.claimable_by: the
--    named session takes it while it has an unended presence (online or in its grace
--    window); once that presence has ended, any session of the member does. NULL: any
--    session, as before. (A nullable column without a default: no table rewrite.)

ALTER TABLE mesh.deliveries ADD COLUMN target_session_id text;

-- 3. Transient presences (hello capability `transient`, for one-shot commands such as
--    `meshpeer send`): ended at once when their socket closes, and listed to no other
--    session. The connect that writes the presence writes the mark in the same
--    statement (`mesh.admit_presence`, migrations/0004): no list_peers ever sees a
--    one-shot session unmarked. The mark changes no row's online-ness, so the
--    online-count triggers skip it.

ALTER TABLE mesh.presences ADD COLUMN transient boolean NOT NULL DEFAULT false;
