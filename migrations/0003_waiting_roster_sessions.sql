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
--    session. `mesh.connect_presence_as` is `mesh.connect_presence` (migrations/0002)
--    plus the mark, in the same transaction: no list_peers ever sees a one-shot
--    session unmarked. The mark changes no row's online-ness, so the online-count
--    triggers skip it.

ALTER TABLE mesh.presences ADD COLUMN transient boolean NOT NULL DEFAULT false;

CREATE FUNCTION mesh.connect_presence_as(
    p_mesh_id          text,
    p_member_id        text,
    p_session_id       text,
    p_pid              bigint,
    p_cwd              text,
    p_connection_id    text,
    p_hook_token_hash  text,
    p_now              timestamptz,
    p_capacity         bigint,
    p_grace_cutoff     timestamptz,
    p_new_id           text,
    p_status           text,
    p_status_source    text,
    p_status_since     timestamptz,
    p_transient        boolean
) RETURNS TABLE (
    refused                 boolean,
    replaced_connection_id  text,
    resumed                 boolean,
    id                      text,
    mesh_id                 text,
    member_id               text,
    session_id              text,
    pid                     bigint,
    cwd                     text,
    connection_id           text,
    status                  text,
    status_source           text,
    status_since            timestamptz,
    connected_at            timestamptz,
    disconnected_at         timestamptz,
    ended_at                timestamptz,
    transient               boolean
)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    r  record;
BEGIN
    SELECT * INTO r FROM mesh.connect_presence(
        p_mesh_id, p_member_id, p_session_id, p_pid, p_cwd, p_connection_id,
        p_hook_token_hash, p_now, p_capacity, p_grace_cutoff, p_new_id, p_status,
        p_status_source, p_status_since);
    IF NOT r.refused THEN
        UPDATE mesh.presences p SET transient = p_transient WHERE p.id = r.id;
    END IF;
    RETURN QUERY SELECT r.refused, r.replaced_connection_id, r.resumed, r.id, r.mesh_id,
        r.member_id, r.session_id, r.pid, r.cwd, r.connection_id, r.status,
        r.status_source, r.status_since, r.connected_at, r.disconnected_at, r.ended_at,
        CASE WHEN r.refused THEN NULL ELSE p_transient END;
END;
$$;
