/* The routing table: route sets added in order (copy-free), matched first to last. A path
 * that matches with another method gives 405 with the methods it does accept. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/http_internal.h"
#include "core/metrics.h"

int http_route_table_add(struct http_route_table *t, struct metrics_http *m,
			 const struct http_route *routes, size_t n, efos_err *e)
{
	for (size_t i = 0; i < n; i++)
		if (routes[i].path == NULL || routes[i].path[0] != '/' || routes[i].fn == NULL)
			return efos_fail(e, EFOS_E_INTERNAL, "route %zu: needs a path starting with / and a handler", i);
	struct http_route_set *sets = realloc(t->sets, (t->n_sets + 1) * sizeof *sets);
	if (sets == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	t->sets = sets;
	int *labels = calloc(n ? n : 1, sizeof *labels);
	if (labels == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const char *name = routes[i].name ? routes[i].name : routes[i].path;
		labels[i] = metrics_http_label(m, name);
	}
	sets[t->n_sets++] = (struct http_route_set){ routes, n, labels };
	return 0;
}

void http_route_table_free(struct http_route_table *t)
{
	for (size_t i = 0; i < t->n_sets; i++)
		free(t->sets[i].metric_labels);
	free(t->sets);
	t->sets = NULL;
	t->n_sets = 0;
}

static bool path_matches(const struct http_route *r, const char *path)
{
	if (r->flags & HTTP_ROUTE_PREFIX)
		return strncmp(path, r->path, strlen(r->path)) == 0;
	return strcmp(path, r->path) == 0;
}

static bool method_matches(const struct http_route *r, const char *method)
{
	if (r->method == NULL)
		return true;
	if (strcmp(r->method, method) == 0)
		return true;
	/* HEAD is served by GET handlers (MHD sends no body for HEAD). */
	return strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0;
}

enum http_match http_route_match(const struct http_route_table *t, const char *method,
				 const char *path, const struct http_route **out, int *label,
				 char *allow, size_t cap)
{
	bool path_seen = false;
	size_t alen = 0;
	if (cap > 0)
		allow[0] = '\0';
	for (size_t s = 0; s < t->n_sets; s++) {
		const struct http_route_set *set = &t->sets[s];
		for (size_t i = 0; i < set->n; i++) {
			const struct http_route *r = &set->routes[i];
			if (!path_matches(r, path))
				continue;
			if (method_matches(r, method)) {
				*out = r;
				*label = set->metric_labels[i];
				return HTTP_MATCH_OK;
			}
			if (!path_seen)
				*label = set->metric_labels[i];
			path_seen = true;
			if (r->method != NULL && cap > alen + 1 && strstr(allow, r->method) == NULL) {
				int w = snprintf(allow + alen, cap - alen, "%s%s", alen ? ", " : "", r->method);
				if (w > 0)
					alen = alen + (size_t)w < cap ? alen + (size_t)w : cap - 1;
			}
		}
	}
	return path_seen ? HTTP_MATCH_BAD_METHOD : HTTP_MATCH_NOT_FOUND;
}
