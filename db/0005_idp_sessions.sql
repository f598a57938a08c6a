-- The IdP's SSO flow (issue 4, idp/login_tx.c, idp/session.c; docs/idp.md): login transactions,
-- SSO sessions and remembered attribute-release approvals. Shared by every efosd node, so any
-- node can serve any step of a login.
--
-- Secrets (the transaction id in the URL, the session cookie) are never stored: only their
-- SHA-256, so a reader of the database cannot take over a login or a session.

-- One login in progress: from the AuthnRequest intake to the POST of the Response. Short-lived
-- (idp.login_tx_lifetime, default 10 minutes); finished or expired rows are deleted by the
-- flow's opportunistic purge. request/subject are JSON documents written by idp/login_tx.c.
CREATE TABLE idp_login_tx (
	id_hash       bytea       PRIMARY KEY CHECK (length(id_hash) = 32),
	sp_entity_id  text        NOT NULL CHECK (length(sp_entity_id) BETWEEN 1 AND 1024),
	state         text        NOT NULL CHECK (state IN ('new', 'authenticated', 'done')),
	request       text        NOT NULL,
	subject       text,
	sso           boolean     NOT NULL DEFAULT false,  -- the subject came from an SSO session
	sign_accepted boolean     NOT NULL DEFAULT false,  -- the sign message was shown and accepted
	csrf          text        NOT NULL CHECK (length(csrf) BETWEEN 32 AND 128),
	created_at    timestamptz NOT NULL DEFAULT now(),
	expires_at    timestamptz NOT NULL
);
CREATE INDEX idp_login_tx_expires ON idp_login_tx (expires_at);

-- An SSO session: one card login that later requests of the same browser may reuse (without
-- ForceAuthn, not for signature services, not across WebSSO/holder-of-key, same LoA) until
-- expires_at = authn_instant + at most 60 minutes (federation rule). The browser holds only a
-- random token (cookie); the card certificate is kept so that a reuse validates it again
-- (a card revoked meanwhile ends the session).
CREATE TABLE idp_sso_sessions (
	id              bigserial   PRIMARY KEY,
	token_hash      bytea       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
	person_id       bigint      NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
	card_cert_sha256 bytea      NOT NULL CHECK (length(card_cert_sha256) = 32),
	card_cert       bytea       NOT NULL,
	loa             text        NOT NULL,
	hok             boolean     NOT NULL,
	authn_instant   timestamptz NOT NULL,
	created_at      timestamptz NOT NULL DEFAULT now(),
	last_used_at    timestamptz NOT NULL DEFAULT now(),
	expires_at      timestamptz NOT NULL,
	CHECK (expires_at <= authn_instant + interval '60 minutes')
);
CREATE INDEX idp_sso_sessions_expires ON idp_sso_sessions (expires_at);
CREATE INDEX idp_sso_sessions_person ON idp_sso_sessions (person_id);

-- "Remember my choice" on the attribute-release notice, per person and SP (anslutningsregler
-- §2.1.2 allows it per SP). release_set is policy_release.set_id: when the SP's release changes
-- (other attributes), the notice is shown again.
CREATE TABLE idp_release_consents (
	person_id     bigint      NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
	sp_entity_id  text        NOT NULL CHECK (length(sp_entity_id) BETWEEN 1 AND 1024),
	release_set   text        NOT NULL CHECK (release_set ~ '^[0-9a-f]{64}$'),
	consented_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (person_id, sp_entity_id)
);
