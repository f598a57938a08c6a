/* Trusted IdPs of the signing service (see fedsign_idps.h). A superseded parse of our own IdP's
 * document is kept (not freed) until stop, so a record handed out is never freed under a
 * request; the IdP re-signs about once a day, so these are few. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/config.h"
#include "core/log.h"
#include "idp/metadata_publish.h"
#include "signer/fedsign_idps.h"

#define IDPS_MAX_BYTES (16L * 1024 * 1024)
#define IDPS_MAX_OWN_VERSIONS 64

struct fedsign_idps {
	struct sig_idp_set *files[EFOS_CFG_MAX_LIST];
	size_t n_files;
	struct idp_md_publisher *own;
	pthread_mutex_t lock;                         /* guards the own* fields */
	struct sig_idp_set *own_sets[IDPS_MAX_OWN_VERSIONS]; /* [n_own - 1] is current */
	size_t n_own;
	time_t own_signed_at;
};

static int read_file(const char *path, char **buf, size_t *len, efos_err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	if (fd < 0)
		return efos_fail(e, EFOS_E_CONFIG, "%s: %s", path, strerror(errno));
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > IDPS_MAX_BYTES) {
		close(fd);
		return efos_fail(e, EFOS_E_CONFIG, "%s: not a regular file of at most %ld bytes", path, IDPS_MAX_BYTES);
	}
	*len = (size_t)sb.st_size;
	*buf = malloc(*len + 1);
	ssize_t got = *buf ? read(fd, *buf, *len) : -1;
	close(fd);
	if (got != (ssize_t)*len) {
		free(*buf);
		*buf = NULL;
		return efos_fail(e, EFOS_E_CONFIG, "%s: cannot read the file", path);
	}
	(*buf)[*len] = '\0';
	return 0;
}

int fedsign_idps_start(const struct efos_config *c, struct idp_md_publisher *own, struct fedsign_idps **out,
		       efos_err *e)
{
	*out = NULL;
	struct fedsign_idps *t = calloc(1, sizeof *t);
	if (t == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	pthread_mutex_init(&t->lock, NULL);
	t->own = own;
	char *cfgdir = NULL;
	if (c->path != NULL) {
		char *tmp = strdup(c->path);
		cfgdir = tmp ? strdup(dirname(tmp)) : NULL;
		free(tmp);
	}
	for (size_t i = 0; i < c->n_signer_idp_metadata_files; i++) {
		const char *f = c->signer_idp_metadata_files[i];
		char path[4096];
		snprintf(path, sizeof path, "%s%s%s", f[0] == '/' || cfgdir == NULL ? "" : cfgdir,
			 f[0] == '/' || cfgdir == NULL ? "" : "/", f);
		char *buf = NULL;
		size_t len = 0;
		if (read_file(path, &buf, &len, e) != 0 ||
		    sig_idp_set_parse(buf, len, path, NULL, 0, 0, &t->files[t->n_files], e) != 0) {
			free(buf);
			e->code = EFOS_E_CONFIG;
			efos_wrap(e, "signer.idp_metadata_files");
			free(cfgdir);
			fedsign_idps_stop(t);
			return -1;
		}
		free(buf);
		log_info("signing service: %zu IdP(s) trusted from %s", sig_idp_set_count(t->files[t->n_files]), path);
		t->n_files++;
	}
	free(cfgdir);
	if (t->n_files == 0 && own == NULL)
		log_warn("signing service: no IdP is trusted (signer.idp_metadata_files is empty and this node does "
			 "not publish IdP metadata): every SignRequest will be refused");
	*out = t;
	return 0;
}

void fedsign_idps_stop(struct fedsign_idps *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n_files; i++)
		sig_idp_set_free(t->files[i]);
	for (size_t i = 0; i < t->n_own; i++)
		sig_idp_set_free(t->own_sets[i]);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* Parses our own IdP's document again when the publisher signed a new one (lock held). */
static void refresh_own(struct fedsign_idps *t)
{
	struct idp_md_current cur;
	efos_err e = { 0 };
	time_t signed_at = idp_md_publisher_signed_at(t->own);
	if (t->n_own > 0 && signed_at == t->own_signed_at)
		return;   /* unchanged: no copy, no parse */
	if (idp_md_publisher_get(t->own, &cur, &e) != 0) {
		log_warn("signing service: our IdP's metadata is not available: %s", e.msg);
		return;
	}
	if (cur.signed_at != t->own_signed_at || t->n_own == 0) {
		struct sig_idp_set *s = NULL;
		if (t->n_own == IDPS_MAX_OWN_VERSIONS) {
			log_warn("signing service: our IdP's metadata changed %d times since start; restart efosd to "
				 "take newer versions", IDPS_MAX_OWN_VERSIONS);
		} else if (sig_idp_set_parse(cur.xml, cur.len, "/metadata/idp.xml", NULL, 0, 0, &s, &e) != 0) {
			log_error("signing service: cannot read our own IdP's metadata: %s", e.msg);
		} else {
			t->own_sets[t->n_own++] = s;
			t->own_signed_at = cur.signed_at;
		}
	}
	free(cur.xml);
}

const struct sig_idp *fedsign_idps_find(struct fedsign_idps *t, const char *entity_id)
{
	if (entity_id == NULL)
		return NULL;
	for (size_t i = 0; i < t->n_files; i++) {
		const struct sig_idp *p = sig_idp_set_find(t->files[i], entity_id);
		if (p != NULL)
			return p;
	}
	if (t->own == NULL)
		return NULL;
	pthread_mutex_lock(&t->lock);
	refresh_own(t);
	const struct sig_idp *p = t->n_own > 0 ? sig_idp_set_find(t->own_sets[t->n_own - 1], entity_id) : NULL;
	pthread_mutex_unlock(&t->lock);
	return p;
}
