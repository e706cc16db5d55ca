-- Crash-fast liveness, race-free admission and manual statuses that outlive a
-- presence. See docs/adr/0025-liveness-from-postgres.md.
--
-- 1. mesh.instances: one row per running incarnation of a broker. Its process holds
--    the session-level advisory lock (1818850917 /* "live" */, lock_key) on a
--    connection of its own for as long as it lives; Postgres frees that lock the
--    moment the connection dies (SIGKILL, crash, terminated backend). A sweep that
--    finds the lock free for longer than a short window (time for a living process
--    to reclaim it after a blip: `mesh.reclaim_instance`) knows the incarnation is
--    dead: `mesh.reap_dead_instances` starts the grace window of its online
--    presences and deletes the row, so that the process, if it still lives, finds
--    it gone when it comes back and fences itself.
-- 2. mesh.admit_presence: mesh.connect_presence (0002) plus three refusals decided in
--    the same statement: a revoked member (the member row is read FOR SHARE, so a
--    revoke in flight is waited for, and its end_member then sees this presence),
--    an incarnation already reaped (the reap gate: a shared advisory lock that a
--    reap takes exclusively, so the reaper either waits for this connect and reaps
--    it too, or went first and this connect finds the row gone and is refused; an
--    advisory lock, not FOR SHARE on the row every hello of an instance would lock),
--    and capacity. A new presence of a session whose previous presence ended with a
--    manual status after `p_manual_cutoff` starts with that status (restart, crash,
--    move: dnd survives). connect_presence stays for instances of the older version.

CREATE SEQUENCE mesh.instance_lock_keys AS integer CYCLE;

CREATE TABLE mesh.instances (
    id          text PRIMARY KEY,
    lock_key    integer NOT NULL UNIQUE DEFAULT nextval('mesh.instance_lock_keys'),
    started_at  timestamptz NOT NULL,
    backend     integer NOT NULL,  -- pg_backend_pid() of the connection holding the lock
    free_since  timestamptz        -- when a sweep first found the lock free
);

ALTER TABLE mesh.presences ADD COLUMN instance_id text;

-- reap_dead_instances: the online presences of one incarnation
CREATE INDEX presences_online_instance
    ON mesh.presences (instance_id) WHERE ended_at IS NULL AND connection_id IS NOT NULL;
-- admit_presence: the last ended presence of a session (its manual status)
CREATE INDEX presences_ended_session
    ON mesh.presences (mesh_id, member_id, session_id, ended_at DESC) WHERE ended_at IS NOT NULL;

-- Register an incarnation and take its lock in one transaction: no sweep can see the
-- row before the lock is held (the lock is session-level, so it outlives the commit).
CREATE FUNCTION mesh.register_instance(p_id text, p_now timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    key integer;
BEGIN
    INSERT INTO mesh.instances (id, started_at, backend) VALUES (p_id, p_now, pg_backend_pid())
    RETURNING lock_key INTO key;
    PERFORM pg_advisory_lock(1818850917, key);
    RETURN key;
END;
$$;

-- A living process whose lock connection broke takes its incarnation's lock again on a
-- new connection: true, unless a sweep has reaped the incarnation meanwhile (false:
-- the process must fence itself and register anew). The row lock orders this against
-- a sweep. When the old backend still holds the lock (a half-open connection the
-- server has not noticed), the process ends that backend, which is its own.
CREATE FUNCTION mesh.reclaim_instance(p_id text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    inst mesh.instances%ROWTYPE;
BEGIN
    SELECT * INTO inst FROM mesh.instances i WHERE i.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF NOT pg_try_advisory_lock(1818850917, inst.lock_key) THEN
        PERFORM pg_terminate_backend(inst.backend, 5000);
        PERFORM pg_advisory_lock(1818850917, inst.lock_key);
    END IF;
    UPDATE mesh.instances i SET backend = pg_backend_pid(), free_since = NULL WHERE i.id = p_id;
    RETURN true;
END;
$$;

-- The online presences of every other incarnation whose lock has been free since
-- before p_free_before, put in their grace window (connection_id NULL,
-- disconnected_at p_now), returned as they were (with their connection ids, whose
-- leases the caller then drops). The incarnations' rows go. A lock found free for
-- the first time is only noted (free_since); one found held again clears the note.
-- Rows another sweep or a reclaim is holding are skipped (SKIP LOCKED).
CREATE FUNCTION mesh.reap_dead_instances(
    p_now timestamptz, p_free_before timestamptz, p_except text
)
RETURNS SETOF mesh.presences
LANGUAGE plpgsql AS $$
DECLARE
    inst mesh.instances%ROWTYPE;
    dead text[] := '{}';
BEGIN
    FOR inst IN SELECT * FROM mesh.instances i WHERE i.id IS DISTINCT FROM p_except
                FOR UPDATE SKIP LOCKED LOOP
        -- Transaction-scoped: a sweep never keeps a dead incarnation's lock.
        IF NOT pg_try_advisory_xact_lock(1818850917, inst.lock_key) THEN
            IF inst.free_since IS NOT NULL THEN
                UPDATE mesh.instances i SET free_since = NULL WHERE i.id = inst.id;
            END IF;
            CONTINUE;
        END IF;
        IF inst.free_since IS NULL THEN
            UPDATE mesh.instances i SET free_since = p_now WHERE i.id = inst.id;
            CONTINUE;
        END IF;
        CONTINUE WHEN inst.free_since >= p_free_before;
        -- The reap gate (1919246704 /* "reap" */): connects in flight finish first.
        -- Every gate is taken before any presence is locked: a connect waits for
        -- nothing this sweep holds, so the two cannot deadlock.
        PERFORM pg_advisory_xact_lock(1919246704, hashtext(inst.id));
        dead := dead || inst.id;
    END LOOP;
    IF cardinality(dead) = 0 THEN
        RETURN;
    END IF;
    RETURN QUERY
        WITH target AS (
            SELECT p.* FROM mesh.presences p
            WHERE p.instance_id = ANY(dead) AND p.ended_at IS NULL
              AND p.connection_id IS NOT NULL
            FOR UPDATE
        ), reaped AS (
            UPDATE mesh.presences p SET connection_id = NULL, disconnected_at = p_now
            FROM target WHERE p.id = target.id
            RETURNING target.*
        )
        SELECT * FROM reaped ORDER BY seq;
    DELETE FROM mesh.instances i WHERE i.id = ANY(dead);
END;
$$;

CREATE FUNCTION mesh.admit_presence(
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
    p_instance_id      text,
    p_manual_cutoff    timestamptz,
    p_transient        boolean
) RETURNS TABLE (
    refusal                 text,
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
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
#variable_conflict use_column
DECLARE
    existing  mesh.presences%ROWTYPE;
    written   mesh.presences%ROWTYPE;
    kept      mesh.presences%ROWTYPE;
    live      boolean;
    replaced  text;
    folded    bigint;
    counted   bigint;
    revoked   timestamptz;
BEGIN
    -- Before the mesh lock: waits (if it must) for a revoke or a reap in flight.
    SELECT m.revoked_at INTO revoked FROM mesh.members m WHERE m.id = p_member_id FOR SHARE;
    IF revoked IS NOT NULL THEN
        RETURN QUERY SELECT 'revoked'::text, NULL::text, false, NULL::text, NULL::text,
            NULL::text, NULL::text, NULL::bigint, NULL::text, NULL::text, NULL::text,
            NULL::text, NULL::timestamptz, NULL::timestamptz, NULL::timestamptz,
            NULL::timestamptz, NULL::boolean;
        RETURN;
    END IF;
    IF p_instance_id IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock_shared(1919246704, hashtext(p_instance_id));
        PERFORM 1 FROM mesh.instances i WHERE i.id = p_instance_id;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'instance'::text, NULL::text, false, NULL::text, NULL::text,
                NULL::text, NULL::text, NULL::bigint, NULL::text, NULL::text, NULL::text,
                NULL::text, NULL::timestamptz, NULL::timestamptz, NULL::timestamptz,
                NULL::timestamptz, NULL::boolean;
            RETURN;
        END IF;
    END IF;
    PERFORM pg_advisory_xact_lock(1835365224, hashtext(p_mesh_id)),
            set_config('synchronous_commit', 'off', true);
    SELECT * INTO existing FROM mesh.presences p
    WHERE p.mesh_id = p_mesh_id AND p.member_id = p_member_id
      AND p.session_id = p_session_id AND p.ended_at IS NULL
    FOR UPDATE;
    live := FOUND;
    replaced := CASE WHEN live THEN existing.connection_id END;
    IF live AND existing.connection_id IS NULL
       AND NOT (existing.disconnected_at IS NOT NULL
                AND existing.disconnected_at > p_grace_cutoff) THEN
        UPDATE mesh.presences p SET ended_at = p_now
        WHERE p.id = existing.id AND p.ended_at IS NULL;
        live := false;
    END IF;
    IF replaced IS NULL THEN
        WITH gone AS (
            DELETE FROM mesh.online_count_changes c WHERE c.mesh_id = p_mesh_id
            RETURNING c.change
        )
        SELECT sum(gone.change) INTO folded FROM gone;
        IF folded IS NOT NULL THEN
            INSERT INTO mesh.online_counts AS c (mesh_id, online) VALUES (p_mesh_id, folded)
            ON CONFLICT (mesh_id) DO UPDATE SET online = c.online + folded
            RETURNING c.online INTO counted;
        ELSE
            SELECT c.online INTO counted FROM mesh.online_counts c
            WHERE c.mesh_id = p_mesh_id;
        END IF;
        IF coalesce(counted, 0) >= p_capacity THEN
            RETURN QUERY SELECT 'capacity'::text, NULL::text, false, NULL::text, NULL::text,
                NULL::text, NULL::text, NULL::bigint, NULL::text, NULL::text, NULL::text,
                NULL::text, NULL::timestamptz, NULL::timestamptz, NULL::timestamptz,
                NULL::timestamptz, NULL::boolean;
            RETURN;
        END IF;
    END IF;
    IF live THEN
        UPDATE mesh.presences p
        SET connection_id = p_connection_id, pid = p_pid, cwd = p_cwd,
            connected_at = p_now, disconnected_at = NULL, last_ping_at = p_now,
            hook_token_hash = p_hook_token_hash, instance_id = p_instance_id,
            transient = p_transient
        WHERE p.id = existing.id
        RETURNING p.* INTO written;
    ELSE
        -- The session's last presence, if it ended lately with a manual status.
        SELECT * INTO kept FROM mesh.presences p
        WHERE p.mesh_id = p_mesh_id AND p.member_id = p_member_id
          AND p.session_id = p_session_id AND p.ended_at IS NOT NULL
        ORDER BY p.ended_at DESC LIMIT 1;
        IF FOUND AND kept.status_source = 'manual' AND kept.ended_at > p_manual_cutoff THEN
            p_status := kept.status;
            p_status_source := kept.status_source;
            p_status_since := kept.status_since;
        END IF;
        INSERT INTO mesh.presences AS p
            (id, mesh_id, member_id, session_id, pid, cwd, connection_id, status,
             status_source, status_since, connected_at, last_ping_at, hook_token_hash,
             instance_id, transient)
        VALUES (p_new_id, p_mesh_id, p_member_id, p_session_id, p_pid, p_cwd,
                p_connection_id, p_status, p_status_source, p_status_since, p_now, p_now,
                p_hook_token_hash, p_instance_id, p_transient)
        RETURNING p.* INTO written;
    END IF;
    RETURN QUERY SELECT NULL::text, replaced, live AND replaced IS NULL,
        written.id, written.mesh_id, written.member_id, written.session_id, written.pid,
        written.cwd, written.connection_id, written.status, written.status_source,
        written.status_since, written.connected_at, written.disconnected_at,
        written.ended_at, written.transient;
END;
$$;
