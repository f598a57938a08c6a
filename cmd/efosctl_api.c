/* efosctl's calls to efosd's admin and enrollment APIs (JSON over mTLS as the officer): one
 * request/answer routine for the card and registry commands. */
#include <string.h>
#include "cmd/efosctl.h"

int efosctl_api_call(const struct http_client_opts *o, const char *method, const char *path, json_t *body,
		     json_t **out, efos_err *e)
{
	struct http_client_response r = { 0 };
	char *text = NULL;
	int ret = -1;

	*out = NULL;
	if (body != NULL && (text = json_dumps(body, JSON_COMPACT)) == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	if (http_client_request(o, method, path, text ? "application/json" : NULL, text, text ? strlen(text) : 0,
				&r, e) < 0) {
		efos_wrap(e, "%s %s", method, path);
		goto out;
	}
	json_error_t je;
	json_t *j = r.body && r.body_len ? json_loadb(r.body, r.body_len, 0, &je) : NULL;
	if (r.status >= 400) {
		/* efosd's JSON error message, with a code that picks efosctl's exit status */
		const char *msg = j ? json_string_value(json_object_get(j, "error")) : NULL;
		enum efos_errcode code = r.status == 400 ? EFOS_E_INVALID : r.status == 401 || r.status == 403 ? EFOS_E_AUTH
			: r.status == 404 ? EFOS_E_NOTFOUND : r.status == 409 ? EFOS_E_CONFLICT
			: r.status == 503 ? EFOS_E_UNAVAILABLE : EFOS_E_INTERNAL;
		efos_fail(e, code, "refused by efosd (HTTP %ld): %s", r.status,
			  msg ? msg : r.body && r.body_len ? r.body : "(no message)");
		json_decref(j);
		goto out;
	}
	if (j == NULL || !json_is_object(j)) {
		efos_fail(e, EFOS_E_INTERNAL, "%s %s: the answer is not a JSON object", method, path);
		json_decref(j);
		goto out;
	}
	*out = j;
	ret = 0;
out:
	free(text);
	http_client_response_free(&r);
	return ret;
}
