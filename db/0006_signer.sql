-- The seal API and the timestamp authority (issue 5; signer/seal_api.c, signer/tsa.c,
-- cmd/efosctl_seal.c). docs/seal-api.md.

-- An organisation's seal keys: the private key in the HSM (key_uri), its agency-seal
-- certificate, and the chain above it (concatenated DER certificates, issuer first, up to the
-- root). Named per organisation: an API client asks for a key by name among its own
-- organisation's keys. Made by `efosctl seal key add`.
CREATE TABLE seal_keys (
	id          bigserial PRIMARY KEY,
	org_id      bigint NOT NULL REFERENCES organisations(id),
	name        text NOT NULL CHECK (name ~ '^[A-Za-z0-9._-]{1,64}$'),
	key_uri     text NOT NULL CHECK (key_uri LIKE 'pkcs11:%'),
	cert_der    bytea NOT NULL,
	chain_der   bytea NOT NULL DEFAULT ''::bytea,
	status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
	created_at  timestamptz NOT NULL DEFAULT now(),
	UNIQUE (org_id, name)
);

-- Agency back-end systems allowed to call the seal API: a TLS client certificate (by the
-- SHA-256 of its DER) bound to one organisation, to the names of the seal keys of that
-- organisation it may use, and to the signature formats it may ask for. Made by
-- `efosctl seal client add`.
CREATE TABLE api_clients (
	id          bigserial PRIMARY KEY,
	cert_sha256 bytea NOT NULL UNIQUE CHECK (length(cert_sha256) = 32),
	subject     text NOT NULL,
	org_id      bigint NOT NULL REFERENCES organisations(id),
	key_names   text[] NOT NULL DEFAULT '{}',
	formats     text[] NOT NULL DEFAULT '{cades}',
	status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
	created_at  timestamptz NOT NULL DEFAULT now()
);

-- Serial numbers of the timestamp tokens (RFC 3161 §2.4.2: unique for each token issued by a
-- TSA): one sequence shared by every efosd node.
CREATE SEQUENCE tsa_serial AS bigint START WITH 1 NO CYCLE;
