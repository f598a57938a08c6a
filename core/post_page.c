/* The HTTP-POST bindings' auto-submitting page: see post_page.h. */
#include "core/post_page.h"
#include "core/sbuf.h"

char *post_page(const char *action, const struct post_field *fields, size_t nfields, const char *notice,
		const char *script_nonce)
{
	struct sbuf b = { 0 };
	if (action == NULL || notice == NULL)
		return NULL;
	sbuf_str(&b, "<!DOCTYPE html>\n<html lang=\"sv\"><head><meta charset=\"utf-8\">"
		     "<meta name=\"referrer\" content=\"no-referrer\"><title>EFOS</title></head>\n<body>\n"
		     "<form method=\"post\" action=\"");
	sbuf_esc(&b, action);
	sbuf_str(&b, "\">\n");
	for (size_t i = 0; i < nfields; i++) {
		if (fields[i].value == NULL)
			continue;
		sbuf_str(&b, "<input type=\"hidden\" name=\"");
		sbuf_esc(&b, fields[i].name);
		sbuf_str(&b, "\" value=\"");
		sbuf_esc(&b, fields[i].value);
		sbuf_str(&b, "\">\n");
	}
	sbuf_str(&b, "<p>");
	sbuf_esc(&b, notice);
	sbuf_str(&b, "</p>\n<button type=\"submit\">Fortsätt / Continue</button>\n</form>\n");
	if (script_nonce != NULL) {
		sbuf_str(&b, "<script nonce=\"");
		sbuf_esc(&b, script_nonce);
		sbuf_str(&b, "\">document.forms[0].submit();</script>\n");
	}
	sbuf_str(&b, "</body></html>\n");
	return sbuf_take(&b);
}
