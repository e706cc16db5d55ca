-- A hello's writes in one statement, one round trip, one transaction (issue 18,
-- docs/adr/0028-hello-in-one-statement.md): the replay guard, mesh.admit_presence
-- (0004), the release of the member's leases held by connections that are no longer
-- live, and the take of the session's pending hook signal. Each part is the statement
-- the broker ran on its own before, in the same order; the signature is recorded
-- without waiting for the WAL flush, as before (ADR 0006). A refusal by admit_presence
-- keeps the signature used (as the separate statements did); a replayed signature
-- connects nothing.

CREATE FUNCTION mesh.enter_presence(
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
    p_transient        boolean,
    p_signature        text,
    p_keep_until       timestamptz,
    p_signal_since     timestamptz
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
    transient               boolean,
    released                bigint,
    signal_cwd              text,
    signal_pid              bigint,
    signal_session_id       text,
    signal_status           text,
    signal_received_at      timestamptz
)
LANGUAGE plpgsql
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
#variable_conflict use_column
DECLARE
    admitted  record;
    freed     bigint := 0;
    sig       mesh.pending_signals%ROWTYPE;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    IF p_signature IS NOT NULL THEN
        INSERT INTO mesh.hello_signatures AS h (signature, keep_until)
        VALUES (p_signature, p_keep_until)
        ON CONFLICT (signature) DO NOTHING;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'replayed'::text, NULL::text, false, NULL::text, NULL::text,
                NULL::text, NULL::text, NULL::bigint, NULL::text, NULL::text, NULL::text,
                NULL::text, NULL::timestamptz, NULL::timestamptz, NULL::timestamptz,
                NULL::timestamptz, NULL::boolean, 0::bigint, NULL::text, NULL::bigint,
                NULL::text, NULL::text, NULL::timestamptz;
            RETURN;
        END IF;
    END IF;
    SELECT * INTO admitted FROM mesh.admit_presence(
        p_mesh_id, p_member_id, p_session_id, p_pid, p_cwd, p_connection_id,
        p_hook_token_hash, p_now, p_capacity, p_grace_cutoff, p_new_id, p_status,
        p_status_source, p_status_since, p_instance_id, p_manual_cutoff, p_transient);
    IF admitted.refusal IS NULL THEN
        WITH live AS (
            SELECT p.connection_id FROM mesh.presences p
            WHERE p.member_id = p_member_id AND p.ended_at IS NULL
              AND p.connection_id IS NOT NULL
        ), gone AS (
            UPDATE mesh.deliveries d SET leased_to = NULL, lease_until = NULL
            WHERE d.member_id = p_member_id AND d.leased_to IS NOT NULL
              AND d.leased_to <> ALL(ARRAY(SELECT live.connection_id FROM live))
            RETURNING 1
        )
        SELECT count(*) INTO freed FROM gone;
        WITH taken AS (
            DELETE FROM mesh.pending_signals s
            WHERE s.received_at >= p_signal_since
              AND CASE WHEN s.session_id IS NOT NULL THEN s.session_id = p_session_id
                       ELSE s.pid IS NOT DISTINCT FROM p_pid AND s.cwd = p_cwd END
            RETURNING s.seq, s.cwd, s.pid, s.session_id, s.status, s.received_at
        )
        SELECT * INTO sig FROM taken ORDER BY taken.received_at DESC, taken.seq LIMIT 1;
    END IF;
    RETURN QUERY SELECT admitted.refusal, admitted.replaced_connection_id, admitted.resumed,
        admitted.id, admitted.mesh_id, admitted.member_id, admitted.session_id,
        admitted.pid, admitted.cwd, admitted.connection_id, admitted.status,
        admitted.status_source, admitted.status_since, admitted.connected_at,
        admitted.disconnected_at, admitted.ended_at, admitted.transient, freed,
        sig.cwd, sig.pid, sig.session_id, sig.status, sig.received_at;
END;
$$;

-- Many hellos in one statement and one transaction (the broker's group commit of
-- hellos: those that arrive while one batch is in flight share the next). Item i is
-- exactly mesh.enter_presence on the i-th element of each array; p_instance_id is
-- common. The locks every item would take are taken first, in the order a single
-- enter takes them (signatures, member rows, the reap gate, the mesh locks) and, within
-- each kind, in a fixed order, so that two batches, or a batch and a single connect
-- or revoke, cannot wait for each other in a cycle. One row per item, `n` its index.
CREATE FUNCTION mesh.enter_presences(
    p_mesh_id          text[],
    p_member_id        text[],
    p_session_id       text[],
    p_pid              bigint[],
    p_cwd              text[],
    p_connection_id    text[],
    p_hook_token_hash  text[],
    p_now              timestamptz[],
    p_capacity         bigint[],
    p_grace_cutoff     timestamptz[],
    p_new_id           text[],
    p_status           text[],
    p_status_source    text[],
    p_status_since     timestamptz[],
    p_instance_id      text,
    p_manual_cutoff    timestamptz[],
    p_transient        boolean[],
    p_signature        text[],
    p_keep_until       timestamptz[],
    p_signal_since     timestamptz[]
) RETURNS TABLE (
    n                       integer,
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
    transient               boolean,
    released                bigint,
    signal_cwd              text,
    signal_pid              bigint,
    signal_session_id       text,
    signal_status           text,
    signal_received_at      timestamptz
)
LANGUAGE plpgsql
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
#variable_conflict use_column
DECLARE
    i         integer;
    fresh     text[];  -- the signatures this batch recorded
    one       record;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    WITH wanted AS (
        SELECT DISTINCT s FROM unnest(p_signature) s WHERE s IS NOT NULL ORDER BY s
    ), recorded AS (
        INSERT INTO mesh.hello_signatures AS h (signature, keep_until)
        SELECT w.s, max(k.keep_until)
        FROM wanted w
        JOIN unnest(p_signature, p_keep_until) AS k(signature, keep_until)
          ON k.signature = w.s
        GROUP BY w.s
        ORDER BY w.s
        ON CONFLICT (signature) DO NOTHING
        RETURNING h.signature
    )
    SELECT coalesce(array_agg(r.signature), '{}') INTO fresh FROM recorded r;
    PERFORM 1 FROM mesh.members m WHERE m.id = ANY(p_member_id) ORDER BY m.id FOR SHARE;
    IF p_instance_id IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock_shared(1919246704, hashtext(p_instance_id));
    END IF;
    PERFORM pg_advisory_xact_lock(1835365224, h.k)
    FROM (SELECT DISTINCT hashtext(x) AS k FROM unnest(p_mesh_id) x ORDER BY 1) h;
    FOR i IN 1 .. coalesce(cardinality(p_mesh_id), 0) LOOP
        IF p_signature[i] IS NOT NULL THEN
            IF NOT p_signature[i] = ANY(fresh) THEN
                RETURN QUERY SELECT i, 'replayed'::text, NULL::text, false, NULL::text,
                    NULL::text, NULL::text, NULL::text, NULL::bigint, NULL::text, NULL::text,
                    NULL::text, NULL::text, NULL::timestamptz, NULL::timestamptz,
                    NULL::timestamptz, NULL::timestamptz, NULL::boolean, 0::bigint,
                    NULL::text, NULL::bigint, NULL::text, NULL::text, NULL::timestamptz;
                CONTINUE;
            END IF;
            fresh := array_remove(fresh, p_signature[i]);  -- a second use in this batch
        END IF;
        SELECT * INTO one FROM mesh.enter_presence(
            p_mesh_id[i], p_member_id[i], p_session_id[i], p_pid[i], p_cwd[i],
            p_connection_id[i], p_hook_token_hash[i], p_now[i], p_capacity[i],
            p_grace_cutoff[i], p_new_id[i], p_status[i], p_status_source[i],
            p_status_since[i], p_instance_id, p_manual_cutoff[i], p_transient[i],
            NULL, NULL, p_signal_since[i]);
        RETURN QUERY SELECT i, one.refusal, one.replaced_connection_id, one.resumed, one.id,
            one.mesh_id, one.member_id, one.session_id, one.pid, one.cwd, one.connection_id,
            one.status, one.status_source, one.status_since, one.connected_at,
            one.disconnected_at, one.ended_at, one.transient, one.released, one.signal_cwd,
            one.signal_pid, one.signal_session_id, one.signal_status, one.signal_received_at;
    END LOOP;
END;
$$;
