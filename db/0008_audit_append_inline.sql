-- audit_append without calls to audit_enc(): PostgreSQL cannot inline that SQL function here
-- (its argument is used twice), so each of the nine calls parsed and planned its body again in
-- every transaction, ≈ 8 % of the database's CPU on an SSO login (docs/performance.md). The
-- encoding (length as int4, big-endian, then the UTF-8 bytes) and so the hash are unchanged;
-- audit_enc() stays for whoever verifies in SQL.
CREATE OR REPLACE FUNCTION audit_append(p_node text, p_actor text, p_action text, p_object text,
					p_outcome text, p_details text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	v_head audit_chain_head%ROWTYPE;
	v_id bigint;
	v_at timestamptz;
	v_details jsonb;
	v_buf bytea;
	v_field text;
	v_bytes bytea;
BEGIN
	SELECT * INTO STRICT v_head FROM audit_chain_head FOR UPDATE;
	v_id := v_head.last_id + 1;
	-- After the lock, so that times increase with ids.
	v_at := clock_timestamp();
	v_details := coalesce(p_details, '{}')::jsonb;
	v_buf := v_head.last_hash;
	FOREACH v_field IN ARRAY ARRAY['efos-audit-v1', v_id::text,
			to_char(v_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
			p_node, p_actor, p_action, coalesce(p_object, ''), p_outcome, v_details::text] LOOP
		-- a NULL field makes the hash NULL, which the NOT NULL column refuses (as before)
		v_bytes := convert_to(v_field, 'UTF8');
		v_buf := v_buf || int4send(octet_length(v_bytes)) || v_bytes;
	END LOOP;
	INSERT INTO audit_log (id, at, node, actor, action, object, outcome, details, prev_hash, hash)
	VALUES (v_id, v_at, p_node, p_actor, p_action, coalesce(p_object, ''), p_outcome, v_details,
		v_head.last_hash, sha256(v_buf));
	UPDATE audit_chain_head SET last_id = v_id, last_hash = sha256(v_buf);
	RETURN v_id;
END $$;
