/* The HTTP-POST binding's auto-submitting page: see saml_post.h. */
#include <stddef.h>
#include "core/post_page.h"
#include "core/saml_post.h"

char *saml_post_form(const char *action, const char *field, const char *value, const char *relay_state,
		     const char *script_nonce)
{
	if (action == NULL || field == NULL || value == NULL)
		return NULL;
	const struct post_field fields[] = { { field, value }, { "RelayState", relay_state } };
	return post_page(action, fields, 2, "Du skickas vidare till tjänsten. / You are being sent on to the service.",
			 script_nonce);
}
