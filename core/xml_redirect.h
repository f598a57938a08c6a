/* The SAML HTTP-Redirect binding (SAML Bindings §3.4): the query string of a redirected
 * SAMLRequest/SAMLResponse, its DEFLATE-compressed message and its query-string signature.
 *
 * It is not XML, but it is the same trust decision as an XML signature, so it uses the same
 * algorithm allow-list, key rules and policy (struct xml_dsig_policy: sig_algs, min key sizes)
 * as core/xml.h. Order: xml_redirect_parse(), xml_redirect_verify(), then xml_parse_untrusted()
 * on msg.xml (which must then carry no ds:Signature of its own: the caller's check). */
#ifndef EFOS_CORE_XML_REDIRECT_H
#define EFOS_CORE_XML_REDIRECT_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/evp.h>
#include "core/err.h"
#include "core/xml.h"

struct xml_redirect_limits {
	size_t max_query;        /* raw query string bytes (EFOS_E_TOOBIG) */
	size_t max_inflated;     /* inflated message bytes (EFOS_E_TOOBIG): a deflate bomb stops here */
	size_t max_relay_state;  /* decoded RelayState bytes (the binding says 80; real SPs send URLs) */
};
#define XML_REDIRECT_MAX_QUERY (32u * 1024u)
#define XML_REDIRECT_MAX_INFLATED (256u * 1024u)
#define XML_REDIRECT_MAX_RELAY_STATE 1024u
/* Used when lim is NULL. */
extern const struct xml_redirect_limits xml_redirect_limits_default;

struct xml_redirect_msg {
	bool is_response;            /* SAMLResponse (true) or SAMLRequest (false) */
	unsigned char *xml;          /* the inflated message, NUL-terminated (not yet parsed) */
	size_t xml_len;
	char *relay_state;           /* URL-decoded; NULL when absent */
	char *sig_alg;               /* URL-decoded; NULL when the message is unsigned */
	unsigned char *signature;    /* decoded Signature; NULL when unsigned */
	size_t signature_len;
	/* What the signature covers, exactly as received (still URL-encoded):
	 * "SAMLRequest=v[&RelayState=v]&SigAlg=v" (the order the binding fixes, whatever the
	 * order in the URL); NULL when unsigned. */
	char *signed_octets;
	size_t signed_len;
};

/* Splits query (the part after '?', not decoded) into the message. Refused: too long;
 * a parameter given twice; neither or both of SAMLRequest/SAMLResponse; Signature without
 * SigAlg or the reverse; bad %-escapes; base64 or DEFLATE errors; an inflated message over
 * the limit. Other parameters are ignored (they are not signed). Free with xml_redirect_msg_free. */
int xml_redirect_parse(const char *query, size_t len, const struct xml_redirect_limits *lim,
		       struct xml_redirect_msg *out, efos_err *e);

/* Checks the query-string signature with one of keys[0..nkeys) (from metadata; pol NULL:
 * xml_dsig_policy_saml's algorithm rules). Unsigned: EFOS_E_AUTH. SigAlg outside the
 * allow-list (SHA-1, HMAC, DSA, ...): EFOS_E_INVALID. Not verifying: EFOS_E_AUTH. ECDSA
 * signatures are r||s, as XML-DSig encodes them. */
int xml_redirect_verify(const struct xml_redirect_msg *m, EVP_PKEY *const *keys, size_t nkeys,
			const struct xml_dsig_policy *pol, efos_err *e);

void xml_redirect_msg_free(struct xml_redirect_msg *m);

/* Raw DEFLATE (RFC 1951, no zlib header) inflate of in into a new NUL-terminated buffer of
 * at most max_out bytes (EFOS_E_TOOBIG beyond). The stream must end exactly at inlen. */
int xml_redirect_inflate(const unsigned char *in, size_t inlen, size_t max_out, unsigned char **out,
			 size_t *outlen, efos_err *e);

#endif
