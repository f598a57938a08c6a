/* What the local (configuration-file) efosctl commands open: the configuration, the database,
 * maybe the HSM and the CA service. Shared by efosctl_ca.c and efosctl_seal.c. */
#include <string.h>
#include "certs/issue.h"
#include "certs/service.h"
#include "cmd/efosctl.h"
#include "core/config.h"
#include "core/db.h"
#include "core/log.h"
#include "hsm/hsm.h"

int env_open(struct env *v, bool hsm, bool service, efos_err *e)
{
	memset(v, 0, sizeof *v);
	if (config_load(config_path, &v->cfg, e) < 0)
		return -1;
	v->cfg_loaded = true;
	enum log_level lvl = LOG_LVL_WARN;
	log_level_parse(v->cfg.log_level, &lvl);
	log_init(v->cfg.node_name, lvl < LOG_LVL_WARN ? LOG_LVL_WARN : lvl);
	certs_set_audit_node(v->cfg.node_name);
	char *pw = NULL;
	if (config_read_secret(v->cfg.db_password_file, v->cfg.db_password_env, true, &pw, e) < 0)
		return efos_wrap(e, "database password");
	int rc = db_connect(v->cfg.db_conninfo, pw, v->cfg.db_connect_timeout_s, &v->c, e);
	efos_free_secret(pw);
	if (rc < 0 || db_schema_check(v->c, v->cfg.db_migrations_dir, e) < 0)
		return -1;
	if (hsm) {
		char *pin = NULL;
		if (config_read_secret(v->cfg.hsm_pin_file, v->cfg.hsm_pin_env, false, &pin, e) < 0)
			return efos_wrap(e, "HSM PIN");
		rc = hsm_open(v->cfg.hsm_module, v->cfg.hsm_token, pin, 1, &v->h, e);
		efos_free_secret(pin);
		if (rc < 0)
			return efos_wrap(e, "cannot open the HSM (%s, %s)", v->cfg.hsm_module, v->cfg.hsm_token);
	}
	if (service && certs_service_load(v->c, v->h, v->cfg.ca_profiles_file, v->cfg.ca_base_url, &v->svc, e) < 0)
		return -1;
	return 0;
}

void env_close(struct env *v)
{
	certs_service_stop(v->svc);
	if (v->c != NULL) {
		db_rollback(v->c);
		PQfinish(v->c);
	}
	hsm_close(v->h);
	if (v->cfg_loaded)
		config_free(&v->cfg);
}
