-- Invites (docs/adr/0026-invite-string.md): a bearer token that adds a new key to a
-- mesh. Only the token's sha256 is stored. `used` counts joins; a join takes a use
-- with one conditional UPDATE, so joins racing for the last use serialize on the row
-- lock and exactly one finds `used < uses` still true.

CREATE TABLE mesh.invites (
    id          text PRIMARY KEY,
    seq         bigint GENERATED ALWAYS AS IDENTITY,
    mesh_id     text NOT NULL REFERENCES mesh.meshes (id) ON DELETE CASCADE,
    token_hash  text NOT NULL,
    role        text NOT NULL CHECK (role IN ('admin', 'member')),
    uses        integer NOT NULL CHECK (uses > 0),
    used        integer NOT NULL DEFAULT 0 CHECK (used >= 0 AND used <= uses),
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    CONSTRAINT invites_token_hash_key UNIQUE (token_hash)
);

CREATE INDEX invites_mesh_seq ON mesh.invites (mesh_id, seq);
