-- 0001: the platform: the migrations ledger and the audit chain.
-- Run by `efosctl db migrate` as the schema owner (role efos_owner), inside one transaction.
-- efosd connects as role efos: it may read and append, never rewrite, the audit log.

CREATE TABLE schema_migrations (
	version    integer PRIMARY KEY,
	name       text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT ON schema_migrations TO efos;

-- The audit chain. Row ids come from the chain head (not a sequence), under its row lock, so
-- they have no gaps: a missing id means a deleted row. Each row's hash is
--   SHA-256(prev_hash || enc("efos-audit-v1") || enc(id) || enc(at) || enc(node) || enc(actor)
--           || enc(action) || enc(object) || enc(outcome) || enc(details))
-- where enc(x) = 4-byte big-endian length of x's UTF-8 bytes || those bytes, id is decimal,
-- at is to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') and details is the
-- jsonb's text form (what details::text reads back). core/audit.c verifies with the same rule.
CREATE TABLE audit_log (
	id        bigint PRIMARY KEY,
	at        timestamptz NOT NULL,
	node      text NOT NULL,
	actor     text NOT NULL,
	action    text NOT NULL,
	object    text NOT NULL DEFAULT '',
	outcome   text NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
	details   jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
	prev_hash bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
	hash      bytea NOT NULL CHECK (octet_length(hash) = 32)
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_object ON audit_log (object) WHERE object <> '';

-- One row: the id and hash of the newest audit row. Appends lock it (SELECT ... FOR UPDATE),
-- which serialises them; verification also checks that no row was cut off the end.
CREATE TABLE audit_chain_head (
	singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	last_id   bigint NOT NULL,
	last_hash bytea NOT NULL CHECK (octet_length(last_hash) = 32)
);
INSERT INTO audit_chain_head (last_id, last_hash) VALUES (0, '\x0000000000000000000000000000000000000000000000000000000000000000');

-- Not even the owner rewrites history by accident: UPDATE, DELETE and TRUNCATE raise.
-- (A superuser can still bypass triggers; the hash chain is what detects that.)
CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

CREATE FUNCTION audit_enc(t text) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT AS $$
	SELECT int4send(octet_length(convert_to(t, 'UTF8'))) || convert_to(t, 'UTF8')
$$;

-- Appends one event and returns its id: one round trip per event, inside the caller's
-- transaction (or as its own statement-level transaction). SECURITY DEFINER: efosd's role may
-- only append through this function, which computes the hash; it cannot INSERT a forged row
-- nor move the chain head itself.
CREATE FUNCTION audit_append(p_node text, p_actor text, p_action text, p_object text,
			     p_outcome text, p_details text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	v_head audit_chain_head%ROWTYPE;
	v_id bigint;
	v_at timestamptz;
	v_details jsonb;
	v_hash bytea;
BEGIN
	SELECT * INTO STRICT v_head FROM audit_chain_head FOR UPDATE;
	v_id := v_head.last_id + 1;
	-- After the lock, so that times increase with ids.
	v_at := clock_timestamp();
	v_details := coalesce(p_details, '{}')::jsonb;
	v_hash := sha256(v_head.last_hash
		|| audit_enc('efos-audit-v1')
		|| audit_enc(v_id::text)
		|| audit_enc(to_char(v_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
		|| audit_enc(p_node) || audit_enc(p_actor) || audit_enc(p_action)
		|| audit_enc(coalesce(p_object, '')) || audit_enc(p_outcome)
		|| audit_enc(v_details::text));
	INSERT INTO audit_log (id, at, node, actor, action, object, outcome, details, prev_hash, hash)
	VALUES (v_id, v_at, p_node, p_actor, p_action, coalesce(p_object, ''), p_outcome, v_details,
		v_head.last_hash, v_hash);
	UPDATE audit_chain_head SET last_id = v_id, last_hash = v_hash;
	RETURN v_id;
END $$;

REVOKE ALL ON FUNCTION audit_append(text, text, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_append(text, text, text, text, text, text) TO efos;
REVOKE ALL ON audit_log, audit_chain_head FROM efos;
GRANT SELECT ON audit_log, audit_chain_head TO efos;

-- Tables and sequences that later migrations create (as efos_owner) are usable by efosd.
-- Created after the audit tables, so these do not apply to them.
ALTER DEFAULT PRIVILEGES FOR ROLE efos_owner IN SCHEMA public
	GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO efos;
ALTER DEFAULT PRIVILEGES FOR ROLE efos_owner IN SCHEMA public
	GRANT USAGE, SELECT ON SEQUENCES TO efos;
ALTER DEFAULT PRIVILEGES FOR ROLE efos_owner IN SCHEMA public
	GRANT EXECUTE ON FUNCTIONS TO efos;
