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
