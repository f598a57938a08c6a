-- The IdP (issue 4): the AuthnRequest replay cache (idp/replay.c).
--
-- Every accepted AuthnRequest's (Issuer, ID) is inserted here before the request is acted on
-- (INSERT ... ON CONFLICT: zero rows inserted means the ID was seen before = a replay). It is
-- shared by all efosd nodes, so a request replayed to another node behind the load balancer is
-- caught too. A row is needed only while the request could still pass the age check:
-- expires_at = IssueInstant + idp.max_request_age + idp.clock_skew. Expired rows are deleted
-- by idp_replay_purge (run opportunistically by the intake at most once a minute per node);
-- an expired row that is still here is replaced rather than counted as a replay.
CREATE TABLE idp_replay (
    issuer      text        NOT NULL CHECK (length(issuer) BETWEEN 1 AND 1024),
    message_id  text        NOT NULL CHECK (length(message_id) BETWEEN 1 AND 256),
    expires_at  timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issuer, message_id)
);
CREATE INDEX idp_replay_expires ON idp_replay (expires_at);

-- The SSO flow's session tables (issue 4, idp/sso_flow.c, engineer I4) go in 0005_idp_sessions.sql.
