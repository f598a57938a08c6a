-- Credentials: the registry (organisations, persons, affiliations, officers, identity proofing),
-- the CAs, cards and certificates. Issue 3. Every table is owned by efos_owner; efosd's role
-- `efos` reads and writes through default privileges set in 0001.

CREATE TABLE organisations (
	id          bigserial PRIMARY KEY,
	orgnr       char(10) NOT NULL UNIQUE CHECK (orgnr ~ '^[0-9]{10}$'),
	name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
	status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
	created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE persons (
	id             bigserial PRIMARY KEY,
	pnr            char(12) NOT NULL UNIQUE CHECK (pnr ~ '^[0-9]{12}$'),
	is_coordination_number boolean NOT NULL DEFAULT false,  -- samordningsnummer (day + 60)
	given_name     text NOT NULL CHECK (length(given_name) BETWEEN 1 AND 256),
	surname        text NOT NULL CHECK (length(surname) BETWEEN 1 AND 256),
	display_name   text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 256),
	status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
	created_at     timestamptz NOT NULL DEFAULT now()
);

-- person x organisation; local_id is the organisation-local identifier used in orgAffiliation
-- (local_id@orgnr), unique within the organisation.
CREATE TABLE affiliations (
	id          bigserial PRIMARY KEY,
	person_id   bigint NOT NULL REFERENCES persons(id),
	org_id      bigint NOT NULL REFERENCES organisations(id),
	local_id    text NOT NULL CHECK (local_id ~ '^[A-Za-z0-9._-]{1,64}$'),
	title       text,
	status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'ended')),
	created_at  timestamptz NOT NULL DEFAULT now(),
	ended_at    timestamptz,
	UNIQUE (org_id, local_id)
);
CREATE UNIQUE INDEX affiliations_one_active ON affiliations (person_id, org_id) WHERE status = 'active';

-- An officer is authenticated by a client certificate (its SHA-256 fingerprint).
CREATE TABLE officers (
	id          bigserial PRIMARY KEY,
	name        text NOT NULL,
	person_id   bigint REFERENCES persons(id),
	cert_sha256 bytea NOT NULL UNIQUE CHECK (length(cert_sha256) = 32),
	cert_subject text NOT NULL,
	active      boolean NOT NULL DEFAULT true,
	created_at  timestamptz NOT NULL DEFAULT now()
);

-- Roles per organisation; org_id NULL = every organisation (CA operator).
-- registration_officer: proof identity, enroll, suspend/resume, revoke, unblock PIN
-- org_admin: the registry of that organisation (persons, affiliations)
-- ca_admin: organisations, officers, CA operations
CREATE TABLE officer_roles (
	officer_id  bigint NOT NULL REFERENCES officers(id),
	org_id      bigint REFERENCES organisations(id),
	role        text NOT NULL CHECK (role IN ('registration_officer', 'org_admin', 'ca_admin'))
);
CREATE UNIQUE INDEX officer_roles_unique ON officer_roles (officer_id, coalesce(org_id, 0), role);

CREATE TABLE identity_proofings (
	id              bigserial PRIMARY KEY,
	person_id       bigint NOT NULL REFERENCES persons(id),
	officer_id      bigint NOT NULL REFERENCES officers(id),
	method          text NOT NULL DEFAULT 'in_person' CHECK (method = 'in_person'),
	document_type   text NOT NULL CHECK (document_type IN ('passport', 'national_id_card', 'driving_licence', 'sis_id_card', 'tax_agency_id_card')),
	document_number text NOT NULL CHECK (length(document_number) BETWEEN 1 AND 64),
	document_checked boolean NOT NULL CHECK (document_checked),
	proofed_at      timestamptz NOT NULL DEFAULT now(),
	valid_until     timestamptz NOT NULL
);
CREATE INDEX identity_proofings_person ON identity_proofings (person_id, valid_until);

-- CAs whose keys live in the HSM. name: root, card, sign, ocsp-signer owner, ...
CREATE TABLE cas (
	id              bigserial PRIMARY KEY,
	name            text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9-]{1,32}$'),
	parent_id       bigint REFERENCES cas(id),
	cert_der        bytea NOT NULL,
	key_uri         text NOT NULL,
	subject         text NOT NULL,
	ski             bytea NOT NULL,
	name_hash_sha1  bytea NOT NULL,   -- for OCSP CertID lookups
	key_hash_sha1   bytea NOT NULL,
	crl_number      bigint NOT NULL DEFAULT 0,
	crl_der         bytea,
	crl_this_update timestamptz,
	crl_next_update timestamptz,
	crl_dirty       boolean NOT NULL DEFAULT true,   -- a revocation happened since the last CRL
	created_at      timestamptz NOT NULL DEFAULT now()
);

-- A card is a token (identified by its PKCS#11 serial) issued to one affiliation.
-- pending: certificates issued, confirmation not yet received; never usable for login.
CREATE TABLE cards (
	id              bigserial PRIMARY KEY,
	token_serial    text NOT NULL,
	person_id       bigint NOT NULL REFERENCES persons(id),
	affiliation_id  bigint NOT NULL REFERENCES affiliations(id),
	status          text NOT NULL CHECK (status IN ('pending', 'active', 'suspended', 'revoked', 'abandoned')),
	enrolled_by     bigint NOT NULL REFERENCES officers(id),
	created_at      timestamptz NOT NULL DEFAULT now(),
	pending_until   timestamptz,
	confirmed_at    timestamptz,
	revoked_at      timestamptz,
	suspended_reason text
);
-- one live card per token serial
CREATE UNIQUE INDEX cards_live_token ON cards (token_serial) WHERE status IN ('pending', 'active', 'suspended');

CREATE TABLE certificates (
	serial          bytea PRIMARY KEY CHECK (length(serial) BETWEEN 1 AND 20),
	ca_id           bigint NOT NULL REFERENCES cas(id),
	card_id         bigint REFERENCES cards(id),
	person_id       bigint REFERENCES persons(id),
	profile         text NOT NULL,
	subject         text NOT NULL,
	cert_sha256     bytea NOT NULL UNIQUE,
	not_before      timestamptz NOT NULL,
	not_after       timestamptz NOT NULL,
	der             bytea NOT NULL,
	-- good | revoked | hold (certificateHold) ; a pending card's certificates are 'hold'
	-- until confirmation so that nothing issued is usable before the card confirms.
	status          text NOT NULL CHECK (status IN ('good', 'revoked', 'hold')),
	revoked_at      timestamptz,
	revocation_reason smallint CHECK (revocation_reason BETWEEN 0 AND 10),
	issued_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX certificates_card ON certificates (card_id);
CREATE INDEX certificates_ca_status ON certificates (ca_id, status);
