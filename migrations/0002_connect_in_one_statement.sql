-- A hello's connect in one statement, and the online count of a mesh in O(1).
-- See docs/adr/0020-connect-in-one-statement.md.
--
-- `mesh.connect_presence(...)` is PresenceStore.connect: under the mesh's advisory
-- lock it decides (replace / resume within grace / new, ending a lapsed presence of
-- the session) and writes, in one round trip. The capacity check reads a counter
-- instead of counting the mesh's online presences.
--
-- The counter is kept by triggers on mesh.presences, whoever writes it: a row is
-- online while ended_at IS NULL AND connection_id IS NOT NULL. The online count of
-- mesh M is always (committed rows only)
--
--     mesh.online_counts.online (M) + sum(mesh.online_count_changes.change (M))
--
-- Rows that come online (only connect does that, under the mesh's lock) add to
-- online_counts at once. Rows that go offline (disconnect, end*, deletes) append a
-- row of -1 to online_count_changes instead, which needs no lock on a shared row:
-- disconnects of one mesh never wait for one another's commit, and writers never
-- deadlock on counter rows. connect folds the mesh's changes into online_counts
-- (each change row is folded once, by the first connect to the mesh that sees it).

-- No presence may be written while the counters start from the current rows; the
-- lock is held until this file commits (the runner applies it in one transaction).
LOCK TABLE mesh.presences IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE mesh.online_counts (
    mesh_id  text PRIMARY KEY,
    online   bigint NOT NULL
);

CREATE TABLE mesh.online_count_changes (
    mesh_id  text NOT NULL,
    change   integer NOT NULL
);

CREATE INDEX online_count_changes_mesh ON mesh.online_count_changes (mesh_id);

CREATE FUNCTION mesh.count_online() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Called only when a row's online-ness (or, while online, its mesh) changed:
    -- the triggers' WHEN clauses filter every other write (statuses, heartbeats).
    IF TG_OP IN ('UPDATE', 'DELETE')
       AND OLD.ended_at IS NULL AND OLD.connection_id IS NOT NULL THEN
        INSERT INTO mesh.online_count_changes (mesh_id, change) VALUES (OLD.mesh_id, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE')
       AND NEW.ended_at IS NULL AND NEW.connection_id IS NOT NULL THEN
        INSERT INTO mesh.online_counts AS c (mesh_id, online) VALUES (NEW.mesh_id, 1)
        ON CONFLICT (mesh_id) DO UPDATE SET online = c.online + 1;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER presences_count_online_insert
    AFTER INSERT ON mesh.presences FOR EACH ROW
    WHEN (NEW.ended_at IS NULL AND NEW.connection_id IS NOT NULL)
    EXECUTE FUNCTION mesh.count_online();

CREATE TRIGGER presences_count_online_update
    AFTER UPDATE ON mesh.presences FOR EACH ROW
    WHEN ((OLD.ended_at IS NULL AND OLD.connection_id IS NOT NULL)
              IS DISTINCT FROM (NEW.ended_at IS NULL AND NEW.connection_id IS NOT NULL)
          OR (OLD.mesh_id <> NEW.mesh_id
              AND NEW.ended_at IS NULL AND NEW.connection_id IS NOT NULL))
    EXECUTE FUNCTION mesh.count_online();

CREATE TRIGGER presences_count_online_delete
    AFTER DELETE ON mesh.presences FOR EACH ROW
    WHEN (OLD.ended_at IS NULL AND OLD.connection_id IS NOT NULL)
    EXECUTE FUNCTION mesh.count_online();

CREATE FUNCTION mesh.forget_online_counts() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM mesh.online_count_changes;
    DELETE FROM mesh.online_counts;
    RETURN NULL;
END;
$$;

CREATE TRIGGER presences_count_online_truncate
    AFTER TRUNCATE ON mesh.presences FOR EACH STATEMENT
    EXECUTE FUNCTION mesh.forget_online_counts();

INSERT INTO mesh.online_counts (mesh_id, online)
SELECT mesh_id, count(*) FROM mesh.presences
WHERE ended_at IS NULL AND connection_id IS NOT NULL
GROUP BY mesh_id;

-- PresenceStore.connect (src/domain/ports.py pins what it does). One row: `refused`
-- (capacity), else the presence as written, the connection it replaced and whether
-- it resumed. A refused connect still commits the ending of a lapsed presence of its
-- session. Commits without waiting for the WAL flush (ADR 0006): the statement's
-- own transaction only, as set_config(..., true) is SET LOCAL.
CREATE FUNCTION mesh.connect_presence(
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
    p_status_since     timestamptz
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
    ended_at                timestamptz
)
LANGUAGE plpgsql
-- Plain index scans only, for these statements and the triggers they fire: a plain
-- index scan marks the index entries of folded (deleted) changes dead as it passes
-- them, so the next fold skips them; a bitmap or sequential scan would read every
-- one of them again on each connect until vacuum ran.
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
#variable_conflict use_column
DECLARE
    existing  mesh.presences%ROWTYPE;
    written   mesh.presences%ROWTYPE;
    live      boolean;
    replaced  text;
    folded    bigint;
    counted   bigint;
BEGIN
    -- The key PostgresPresenceStore has always used (0x6D657368, "mesh"), so that
    -- instances of an older version take turns with this one during a rollout.
    PERFORM pg_advisory_xact_lock(1835365224, hashtext(p_mesh_id)),
            set_config('synchronous_commit', 'off', true);
    -- The lock is held: every statement from here sees each connect to this mesh
    -- that committed before. The session's live row is locked too, so a sweep
    -- ending it or the disconnect of its old socket waits for our commit.
    SELECT * INTO existing FROM mesh.presences p
    WHERE p.mesh_id = p_mesh_id AND p.member_id = p_member_id
      AND p.session_id = p_session_id AND p.ended_at IS NULL
    FOR UPDATE;
    live := FOUND;
    replaced := CASE WHEN live THEN existing.connection_id END;
    IF live AND existing.connection_id IS NULL
       AND NOT (existing.disconnected_at IS NOT NULL
                AND existing.disconnected_at > p_grace_cutoff) THEN
        -- lapsed: ended even when capacity then refuses the new one
        UPDATE mesh.presences p SET ended_at = p_now
        WHERE p.id = existing.id AND p.ended_at IS NULL;
        live := false;
    END IF;
    IF replaced IS NULL THEN
        -- The offline changes committed since the last connect, into the counter.
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
            RETURN QUERY SELECT true, NULL::text, false, NULL::text, NULL::text, NULL::text,
                NULL::text, NULL::bigint, NULL::text, NULL::text, NULL::text, NULL::text,
                NULL::timestamptz, NULL::timestamptz, NULL::timestamptz, NULL::timestamptz;
            RETURN;
        END IF;
    END IF;
    IF live THEN
        UPDATE mesh.presences p
        SET connection_id = p_connection_id, pid = p_pid, cwd = p_cwd,
            connected_at = p_now, disconnected_at = NULL, last_ping_at = p_now,
            hook_token_hash = p_hook_token_hash
        WHERE p.id = existing.id
        RETURNING p.* INTO written;
    ELSE
        INSERT INTO mesh.presences AS p
            (id, mesh_id, member_id, session_id, pid, cwd, connection_id, status,
             status_source, status_since, connected_at, last_ping_at, hook_token_hash)
        VALUES (p_new_id, p_mesh_id, p_member_id, p_session_id, p_pid, p_cwd,
                p_connection_id, p_status, p_status_source, p_status_since, p_now, p_now,
                p_hook_token_hash)
        RETURNING p.* INTO written;
    END IF;
    RETURN QUERY SELECT false, replaced, live AND replaced IS NULL,
        written.id, written.mesh_id, written.member_id, written.session_id, written.pid,
        written.cwd, written.connection_id, written.status, written.status_source,
        written.status_since, written.connected_at, written.disconnected_at,
        written.ended_at;
END;
$$;
