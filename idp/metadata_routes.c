/* GET /metadata/idp.xml: the cached signed document (never signed per request), with
 * Cache-Control max-age = cacheDuration and an ETag (If-None-Match answers 304). */
#include <stdlib.h>
#include <string.h>
#include <libxml/parser.h>
#include "core/config.h"
#include "core/ctx.h"
#include "core/log.h"
#include "core/metrics.h"
#include "idp/metadata_publish.h"
#include "idp/metadata_routes.h"
#include "idp/metadata_store.h"

/* One per process, set before the server starts and cleared after it stops: handlers only read. */
static struct idp_md_publisher *g_publisher;
static struct idp_md_store *g_store;

struct idp_md_store *idp_metadata_sp_store(void)
{
	return g_store;
}

struct idp_md_publisher *idp_metadata_publisher(void)
{
	return g_publisher;
}

static bool etag_matches(const char *inm, const char *etag)
{
	if (inm == NULL)
		return false;
	if (strcmp(inm, "*") == 0)
		return true;
	size_t n = strlen(etag);
	for (const char *p = inm; (p = strstr(p, etag)) != NULL; p += n)
		if ((p == inm || p[-1] == ' ' || p[-1] == ',' || p[-1] == '/') &&
		    (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
			return true;
	return false;
}

static void handle_idp_xml(struct http_request *req, struct http_response *resp)
{
	struct idp_md_current cur;
	efos_err e = { 0 };
	if (g_publisher == NULL) {
		http_resp_error(resp, 503, "the IdP metadata is not published by this node "
				"(idp.metadata_key and idp.metadata_cert are not configured)");
		return;
	}
	if (idp_md_publisher_get(g_publisher, &cur, &e) != 0) {
		http_resp_from_err(resp, &e);
		return;
	}
	idp_metadata_send(req, resp, &cur);
}

void idp_metadata_send(struct http_request *req, struct http_response *resp, struct idp_md_current *cur)
{
	char cc[64];
	snprintf(cc, sizeof cc, "public, max-age=%ld", cur->cache_duration_s);
	http_resp_header(resp, "Cache-Control", cc);
	http_resp_header(resp, "ETag", cur->etag);
	if (etag_matches(http_req_header(req, "If-None-Match"), cur->etag)) {
		http_resp_status(resp, 304);
		free(cur->xml);
		cur->xml = NULL;
		return;
	}
	http_resp_body_take(resp, IDP_MD_CONTENT_TYPE, cur->xml, cur->len);
	cur->xml = NULL;
}

/* efos_sp_metadata_* on /metrics: an index that stops refreshing, or shrinks, is worth an alert
 * (docs/idp-metadata.md). Nothing when this node keeps no SP metadata. */
static void render_sp_metadata(struct metrics_buf *b)
{
	if (g_store == NULL)
		return;
	struct idp_md_store_stats st;
	idp_md_store_get_stats(g_store, &st);
	metrics_buf_printf(b,
		"# HELP efos_sp_metadata_entities Service providers in the SP metadata index that serves.\n"
		"# TYPE efos_sp_metadata_entities gauge\n"
		"efos_sp_metadata_entities %zu\n"
		"# HELP efos_sp_metadata_refresh_rounds_total SP metadata refresh rounds completed.\n"
		"# TYPE efos_sp_metadata_refresh_rounds_total counter\n"
		"efos_sp_metadata_refresh_rounds_total %lu\n"
		"# HELP efos_sp_metadata_refused_total SP metadata documents refused (the last good copy kept).\n"
		"# TYPE efos_sp_metadata_refused_total counter\n"
		"efos_sp_metadata_refused_total %lu\n"
		"# HELP efos_sp_metadata_last_refresh_timestamp_seconds End of the last refresh round (Unix time).\n"
		"# TYPE efos_sp_metadata_last_refresh_timestamp_seconds gauge\n"
		"efos_sp_metadata_last_refresh_timestamp_seconds %lld\n"
		"# HELP efos_sp_metadata_index_timestamp_seconds When the index that serves was swapped in (Unix time).\n"
		"# TYPE efos_sp_metadata_index_timestamp_seconds gauge\n"
		"efos_sp_metadata_index_timestamp_seconds %lld\n"
		"# HELP efos_sp_metadata_index_build_seconds Seconds from the start of its refresh round until that index served.\n"
		"# TYPE efos_sp_metadata_index_build_seconds gauge\n"
		"efos_sp_metadata_index_build_seconds %.3f\n",
		st.entities, st.rounds, st.refused, (long long)st.last_round, (long long)st.last_index,
		st.last_index_seconds);
}

const struct http_route idp_metadata_routes[] = {
	{ "GET", IDP_PATH_METADATA, 0, handle_idp_xml, "idp_metadata" },
};
const size_t idp_metadata_n_routes = sizeof idp_metadata_routes / sizeof idp_metadata_routes[0];

int idp_metadata_service_start(struct efos_ctx *ctx, efos_err *e)
{
	const struct efos_config *c = ctx->cfg;
	bool idp = config_has_role(c, "idp");
	xmlInitParser();   /* once, before any thread parses (idempotent) */
	if (idp || config_has_role(c, "metadata")) {
		if (c->idp_metadata_key == NULL && c->idp_metadata_cert == NULL) {
			log_warn("idp.metadata_key and idp.metadata_cert are not set: %s is not published (503)",
				 IDP_PATH_METADATA);
		} else if (idp_md_publisher_start(ctx, &g_publisher, e) != 0) {
			return efos_wrap(e, "IdP metadata");
		}
	}
	/* The signing service's requesters are SPs of the same metadata (signer/fedsign_*.c). */
	if ((idp || config_has_role(c, "signer")) && idp_md_store_start(c, &g_store, e) != 0) {
		idp_md_publisher_stop(g_publisher);
		g_publisher = NULL;
		return efos_wrap(e, "SP metadata");
	}
	if (g_store != NULL && metrics_register(render_sp_metadata) != 0)
		log_warn("SP metadata: no room for its metrics on /metrics");
	return 0;
}

void idp_metadata_service_stop(void)
{
	idp_md_store_stop(g_store);
	g_store = NULL;
	idp_md_publisher_stop(g_publisher);
	g_publisher = NULL;
}
