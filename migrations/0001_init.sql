-- meshbroker schema, version 1. See docs/adr/0004-schema-and-delivery-model.md.
--
-- Every id is `text`: clients send arbitrary strings for meshId, memberId and
-- sessionId, and a lookup by an id that is not a uuid must find nothing, not fail.
-- Every time is `timestamptz`; the broker passes and reads aware UTC datetimes.

CREATE SCHEMA IF NOT EXISTS mesh;

-- ------------------------------------------------------------------ directory

CREATE TABLE mesh.meshes (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    slug        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT meshes_slug_key UNIQUE (slug)
);

CREATE TABLE mesh.members (
    id            text PRIMARY KEY,
    -- creation order: members() lists a mesh's members in the order they were added
    seq           bigint GENERATED ALWAYS AS IDENTITY,
    mesh_id       text NOT NULL REFERENCES mesh.meshes (id) ON DELETE CASCADE,
    pubkey        text NOT NULL,
    display_name  text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'member')),
    revoked_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT members_mesh_pubkey_key UNIQUE (mesh_id, pubkey)
);

CREATE INDEX members_mesh_seq ON mesh.members (mesh_id, seq);

-- ------------------------------------------------------------------ presences

-- One row per session of a member. A row is live while ended_at IS NULL: online
-- while connection_id IS NOT NULL, in its grace window while connection_id IS NULL
-- (disconnected_at says since when). Ended rows are history; every query that
-- matters filters on ended_at IS NULL, so the partial indexes below stay small.
CREATE TABLE mesh.presences (
    id               text PRIMARY KEY,
    -- creation order: the tie-break when two presences connected at the same instant
    seq              bigint GENERATED ALWAYS AS IDENTITY,
    mesh_id          text NOT NULL,
    member_id        text NOT NULL,
    session_id       text NOT NULL,
    pid              bigint,
    cwd              text NOT NULL,
    connection_id    text,
    status           text NOT NULL CHECK (status IN ('idle', 'working', 'dnd')),
    status_source    text NOT NULL CHECK (status_source IN ('hook', 'manual', 'jsonl')),
    status_since     timestamptz NOT NULL,
    connected_at     timestamptz NOT NULL,
    disconnected_at  timestamptz,
    ended_at         timestamptz,
    last_ping_at     timestamptz NOT NULL,
    hook_token_hash  text NOT NULL
);

-- At most one live presence per (mesh, member, session); also serves the online
-- count of a mesh (capacity), peers(mesh) and the meshes summary.
CREATE UNIQUE INDEX presences_live_session
    ON mesh.presences (mesh_id, member_id, session_id) WHERE ended_at IS NULL;
-- disconnect, touch (heartbeat)
CREATE INDEX presences_connection
    ON mesh.presences (connection_id) WHERE ended_at IS NULL AND connection_id IS NOT NULL;
-- POST /hook/set-status with a bearer token
CREATE INDEX presences_hook_token
    ON mesh.presences (hook_token_hash) WHERE ended_at IS NULL;
-- hook without a token: candidates by session id or by cwd
CREATE INDEX presences_live_session_id
    ON mesh.presences (session_id) WHERE ended_at IS NULL;
CREATE INDEX presences_live_cwd
    ON mesh.presences (cwd) WHERE ended_at IS NULL;
-- revocation ends every presence of a member
CREATE INDEX presences_live_member
    ON mesh.presences (member_id) WHERE ended_at IS NULL;
-- end_lapsed: grace windows that ran out ...
CREATE INDEX presences_in_grace
    ON mesh.presences (disconnected_at) WHERE ended_at IS NULL AND connection_id IS NULL;
-- ... and online presences whose instance stopped sending heartbeats
CREATE INDEX presences_online_ping
    ON mesh.presences (last_ping_at) WHERE ended_at IS NULL AND connection_id IS NOT NULL;
-- flip_stuck: `working` for too long
CREATE INDEX presences_working_since
    ON mesh.presences (status_since) WHERE ended_at IS NULL AND status = 'working';

-- ------------------------------------------------------------------ mailbox

-- One row per message. The payload is stored once, however many recipients.
CREATE TABLE mesh.messages (
    id                  text PRIMARY KEY,
    mesh_id             text NOT NULL,
    sender_member_id    text NOT NULL,
    sender_pubkey       text NOT NULL,
    sender_presence_id  text NOT NULL,
    priority            text NOT NULL CHECK (priority IN ('now', 'next', 'low')),
    nonce               text NOT NULL,
    ciphertext          text NOT NULL,
    created_at          timestamptz NOT NULL,
    expires_at          timestamptz NOT NULL
);

-- prune: expired messages
CREATE INDEX messages_expires_at ON mesh.messages (expires_at);

-- One row per (message, recipient member) that is still to be delivered. A row is
-- deleted when its member acks it, and pruned when its message expires: the table
-- holds the live queue only, never delivery history. `seq` is the queue order.
-- priority, sender_presence_id and expires_at are copied from the message so that
-- claim filters on this table alone.
CREATE TABLE mesh.deliveries (
    seq                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id          text NOT NULL REFERENCES mesh.messages (id) ON DELETE CASCADE,
    member_id           text NOT NULL,
    priority            text NOT NULL CHECK (priority IN ('now', 'next', 'low')),
    sender_presence_id  text NOT NULL,
    expires_at          timestamptz NOT NULL,
    leased_to           text,
    lease_until         timestamptz,
    CONSTRAINT deliveries_lease_check CHECK ((leased_to IS NULL) = (lease_until IS NULL))
);

-- claim: a member's queue in order
CREATE INDEX deliveries_queue ON mesh.deliveries (member_id, seq);
-- ack (message ids of one member), the cascade from messages, one delivery per
-- (message, member)
CREATE UNIQUE INDEX deliveries_message_member ON mesh.deliveries (message_id, member_id);
-- release (a closed connection's leases)
CREATE INDEX deliveries_leased_to ON mesh.deliveries (leased_to) WHERE leased_to IS NOT NULL;
-- release_expired
CREATE INDEX deliveries_lease_until ON mesh.deliveries (lease_until) WHERE lease_until IS NOT NULL;
-- prune and depth
CREATE INDEX deliveries_expires_at ON mesh.deliveries (expires_at);

-- ------------------------------------------------------------------ guards

-- Hook reports that arrived before their session connected (kept seconds).
CREATE TABLE mesh.pending_signals (
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cwd          text NOT NULL,
    pid          bigint,
    session_id   text,
    status       text NOT NULL CHECK (status IN ('idle', 'working', 'dnd')),
    received_at  timestamptz NOT NULL
);

CREATE INDEX pending_signals_session ON mesh.pending_signals (session_id)
    WHERE session_id IS NOT NULL;
CREATE INDEX pending_signals_cwd ON mesh.pending_signals (cwd) WHERE session_id IS NULL;
CREATE INDEX pending_signals_received_at ON mesh.pending_signals (received_at);

-- Hello signatures seen, so a replayed hello is refused on every instance.
CREATE TABLE mesh.hello_signatures (
    signature   text PRIMARY KEY,
    keep_until  timestamptz NOT NULL
);

CREATE INDEX hello_signatures_keep_until ON mesh.hello_signatures (keep_until);
