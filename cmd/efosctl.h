/* Shared by efosctl.c and its subcommand files cmd/efosctl_<area>.c. */
#ifndef EFOS_CMD_EFOSCTL_H
#define EFOS_CMD_EFOSCTL_H

/* -c FILE / $EFOS_CONFIG / the default; set by main before a command runs. */
extern const char *config_path;
/* "efosctl:<login name>": the actor of audit events. */
extern char actor[128];

/* Command groups implemented in cmd/efosctl_*.c: argv[0] is the group name. */
int efosctl_ca(int argc, char **argv);     /* efosctl_ca.c: ca init|issue|list|export */
int efosctl_cert(int argc, char **argv);   /* efosctl_ca.c: cert revoke|hold|release */

int efosctl_card(int argc, char **argv);   /* efosctl_card.c: card enroll|confirm|suspend|... */

/* efosctl_registry.c: the registry through the admin API (officer add --bootstrap: the DB) */
int efosctl_org(int argc, char **argv);          /* org add|list|show|suspend|resume */
int efosctl_person(int argc, char **argv);       /* person add|show|list|update|suspend|resume */
int efosctl_affiliation(int argc, char **argv);  /* affiliation add|end|list */
int efosctl_proof(int argc, char **argv);        /* proof record|list */
int efosctl_officer(int argc, char **argv);      /* officer add|grant|revoke|list|show|whoami|... */

/* efosctl_seal.c: the seal API's keys and clients */
int efosctl_seal(int argc, char **argv);          /* seal key add|list, seal client add|list */

/* efosctl_api.c: one JSON request to efosd (body not consumed, may be NULL); *out is the JSON
 * object answered. An HTTP error becomes a failure "refused by efosd (HTTP STATUS): MESSAGE" with a matching code. */
#include <jansson.h>
#include "core/err.h"
#include "core/http_client.h"
int efosctl_api_call(const struct http_client_opts *o, const char *method, const char *path, json_t *body,
		     json_t **out, efos_err *e);

/* efosctl_env.c: what a local command opens (config from config_path, database with its schema
 * checked, optionally the HSM and the CA service); env_close releases all of it. */
#include <stdbool.h>
#include <libpq-fe.h>
#include "core/config.h"
struct hsm;
struct certs_service;
struct env {
	struct efos_config cfg;
	bool cfg_loaded;
	PGconn *c;
	struct hsm *h;
	struct certs_service *svc;
};
int env_open(struct env *v, bool hsm, bool service, efos_err *e);
void env_close(struct env *v);

#endif
