-- The federated signing service (issue 5; signer/fedsign_*.c, docs/signing-service.md): one row
-- per signing in progress, from the EidSignRequest intake (POST /sign/request) to the
-- SignResponse (POST /sign/acs), and the replay cache of the assertions the IdPs sent back.
-- Shared by every efosd node, so the IdP's answer may reach any node behind the load balancer.
--
-- The transaction id travels as the RelayState of the AuthnRequest; only its SHA-256 is stored,
-- so a reader of the database cannot complete somebody's signing.

-- A signing in progress. request_xml is the EidSignRequest exactly as the requester signed it:
-- the ACS step parses it again (with the clock of the intake, sent_at) rather than trusting a
-- second copy. (requester, request_id) is unique: a second SignRequest with the same RequestID
-- from the same requester is a replay (§7.2), for as long as the row exists; the sweeper keeps a
-- row until both the transaction and the request's own validity (replay_until) have passed.
CREATE TABLE sign_tx (
	id_hash           bytea       PRIMARY KEY CHECK (length(id_hash) = 32),
	requester         text        NOT NULL CHECK (length(requester) BETWEEN 1 AND 1024),
	request_id        text        NOT NULL CHECK (length(request_id) BETWEEN 1 AND 256),
	return_url        text        NOT NULL CHECK (length(return_url) BETWEEN 1 AND 2048),
	relay_state       text        CHECK (length(relay_state) <= 1024),
	request_xml       bytea       NOT NULL,
	idp               text        CHECK (length(idp) BETWEEN 1 AND 1024),
	authn_request_id  text        CHECK (length(authn_request_id) BETWEEN 1 AND 256),
	sad_request_id    text        CHECK (length(sad_request_id) BETWEEN 1 AND 256),
	state             text        NOT NULL CHECK (state IN ('sent', 'done', 'failed')),
	sent_at           timestamptz NOT NULL DEFAULT now(),
	expires_at        timestamptz NOT NULL,
	replay_until      timestamptz NOT NULL,
	finished_at       timestamptz,
	UNIQUE (requester, request_id)
);
CREATE INDEX sign_tx_sweep ON sign_tx (GREATEST(expires_at, replay_until));

-- Assertions consumed by the signing service, by (issuing IdP, assertion ID), each kept until its
-- NotOnOrAfter (+ clock skew): an assertion posted twice, to any node, is refused.
CREATE TABLE sign_assertion_replay (
	idp           text        NOT NULL CHECK (length(idp) BETWEEN 1 AND 1024),
	assertion_id  text        NOT NULL CHECK (length(assertion_id) BETWEEN 1 AND 256),
	expires_at    timestamptz NOT NULL,
	received_at   timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (idp, assertion_id)
);
CREATE INDEX sign_assertion_replay_expires ON sign_assertion_replay (expires_at);
