/* What every request handler shares: the configuration, the database pool, the HSM and the
 * keys the node uses. Built once by efosd at start-up; read-only afterwards (the members
 * themselves are thread-safe). */
#ifndef EFOS_CORE_CTX_H
#define EFOS_CORE_CTX_H

struct efos_config;
struct db_pool;
struct hsm;
struct hsm_key;
struct certs_service;

struct efos_ctx {
	const struct efos_config *cfg;
	struct db_pool *db;
	struct hsm *hsm;
	struct hsm_key *probe_key;   /* key the periodic HSM probe signs with */
	struct certs_service *certs; /* the CA: loaded CAs, CRL publisher, OCSP responder (certs/service.h) */
};

#endif
