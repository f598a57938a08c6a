/* The parts of an AuthnRequest read after its signature is verified: RequestedAuthnContext and
 * the Swedish extensions (spec §5.1 SADRequest, §6 SignMessage, §8 PrincipalSelection), plus
 * the helpers the intake shares (idp/authn_request_ext.h). Every refusal here is answerable:
 * the request is authentic and its ACS comes from metadata, so the SP gets a SAML status
 * (Requester/RequestUnsupported for a malformed or unsupported extension, spec §1.9). */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include "core/log.h"
#include "core/utf8.h"
#include "core/xml.h"
#include "core/xmlenc_aes.h"
#include "idp/authn_request_ext.h"

#define MAX_CLASSREFS 32
#define MAX_MATCH_VALUES 16
#define MAX_MATCH_VALUE_LEN 256
#define MAX_URI_LEN 1024
#define MAX_ENC_KEYS 4
#define MAX_WRAPPED_KEY 1024

#define ATTRNAME_FORMAT_URI "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
#define ALG_RSA_OAEP_MGF1P "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"

/* ---- helpers ------------------------------------------------------------------------------ */

bool idp_areq_is_el(xmlNodePtr n, const char *ns, const char *name)
{
	return n != NULL && n->type == XML_ELEMENT_NODE && n->ns != NULL && n->ns->href != NULL &&
	       strcmp((const char *)n->name, name) == 0 && strcmp((const char *)n->ns->href, ns) == 0;
}

static bool xml_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool idp_areq_is_blank(xmlNodePtr n)
{
	if (n == NULL || n->type != XML_TEXT_NODE)
		return false;
	for (const xmlChar *p = n->content; p != NULL && *p; p++)
		if (!xml_space(*p))
			return false;
	return true;
}

char *idp_areq_text(xmlNodePtr elem, size_t max, efos_err *e)
{
	xmlChar *raw = NULL;
	if (xml_text_content_strict(elem, &raw, e) < 0)
		return NULL;
	const char *s = (const char *)raw;
	size_t len = strlen(s);
	while (len > 0 && xml_space((unsigned char)s[len - 1]))
		len--;
	while (len > 0 && xml_space((unsigned char)*s))
		s++, len--;
	if (len > max) {
		xmlFree(raw);
		efos_fail(e, EFOS_E_INVALID, "<%s> is longer than %zu bytes", (const char *)elem->name, max);
		return NULL;
	}
	char *out = strndup(s, len);
	xmlFree(raw);
	if (out == NULL)
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	return out;
}

char *idp_areq_attr(xmlNodePtr n, const char *name)
{
	xmlChar *v = xmlGetNoNsProp(n, BAD_CAST name);
	if (v == NULL)
		return NULL;
	char *out = strdup((const char *)v);
	xmlFree(v);
	return out;
}

int idp_areq_parse_bool(const char *s, bool *out)
{
	if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
		*out = true;
	else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
		*out = false;
	else
		return -1;
	return 0;
}

int idp_areq_answer(struct idp_status *st, const char *top, const char *second, const char *fmt, ...)
{
	st->top = top;
	st->second = second;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st->message, sizeof st->message, fmt, ap);
	va_end(ap);
	return IDP_INTAKE_ANSWERABLE;
}

static int b64_val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int idp_areq_base64_decode(const char *in, size_t len, size_t max, unsigned char **out, size_t *outlen)
{
	size_t cap = len / 4 * 3 + 3;
	if (cap > max + 3)
		cap = max + 3;
	unsigned char *buf = malloc(cap + 1);
	if (buf == NULL)
		return -1;
	size_t n = 0, quad = 0, pad = 0;
	uint32_t acc = 0;
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)in[i];
		if (xml_space(c))
			continue;
		if (c == '=') {
			pad++;
			if (pad > 2 || quad < 2)
				goto bad;
			acc <<= 6;
			quad++;
		} else {
			int v = b64_val(c);
			if (v < 0 || pad > 0)
				goto bad;
			acc = acc << 6 | (uint32_t)v;
			quad++;
		}
		if (quad == 4) {
			size_t k = 3 - pad;
			if (n + k > max)
				goto bad;
			unsigned char b[3] = { (unsigned char)(acc >> 16), (unsigned char)(acc >> 8), (unsigned char)acc };
			memcpy(buf + n, b, k);
			n += k;
			quad = 0;
			acc = 0;
			if (pad > 0) {
				/* only whitespace may follow the padding */
				for (size_t j = i + 1; j < len; j++)
					if (!xml_space((unsigned char)in[j]))
						goto bad;
				break;
			}
		}
	}
	if (quad != 0 || n == 0)
		goto bad;
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
bad:
	free(buf);
	return -1;
}

bool idp_areq_utf8_ok(const unsigned char *s, size_t len)
{
	return utf8_text_ok(s, len);
}

bool idp_areq_in_list(const char *const *list, const char *s)
{
	for (; list != NULL && *list != NULL; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

static int oom(efos_err *e)
{
	return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
}

#define UNSUPPORTED(st, ...) idp_areq_answer(st, IDP_STATUS_REQUESTER, IDP_STATUS_REQUEST_UNSUPPORTED, __VA_ARGS__)

/* ---- RequestedAuthnContext (spec §1.5, §2.2) ----------------------------------------------------- */

int idp_areq_parse_rac(xmlNodePtr rac, const struct idp_ext_ctx *c, struct idp_authn_request *out,
		       struct idp_status *st, efos_err *e)
{
	const char *const *supported = c->p->supported_loa ? c->p->supported_loa : idp_our_loas;
	if (rac == NULL) {
		/* None requested: the default consistent with our metadata (spec §1.5). */
		if (supported[0] == NULL)
			return idp_areq_answer(st, IDP_STATUS_REQUESTER, IDP_STATUS_NO_AUTHN_CONTEXT, "No LoA is supported");
		return (out->chosen_loa = strdup(supported[0])) ? 0 : oom(e);
	}
	char *cmp = idp_areq_attr(rac, "Comparison");
	if (cmp != NULL && strcmp(cmp, "exact") != 0) {
		bool known = strcmp(cmp, "minimum") == 0 || strcmp(cmp, "better") == 0 || strcmp(cmp, "maximum") == 0;
		int rc = known ? idp_areq_answer(st, IDP_STATUS_REQUESTER, IDP_STATUS_NO_AUTHN_CONTEXT,
						 "Comparison \"%s\" is not supported; request the LoA with exact", cmp)
			       : UNSUPPORTED(st, "RequestedAuthnContext Comparison is not valid");
		free(cmp);
		return rc;
	}
	free(cmp);
	size_t n = 0;
	for (xmlNodePtr k = rac->children; k; k = k->next) {
		if (idp_areq_is_blank(k))
			continue;
		if (idp_areq_is_el(k, IDP_NS_SAML, "AuthnContextClassRef"))
			n++;
		else if (idp_areq_is_el(k, IDP_NS_SAML, "AuthnContextDeclRef"))
			return UNSUPPORTED(st, "AuthnContextDeclRef is not supported; request an AuthnContextClassRef");
		else
			return UNSUPPORTED(st, "RequestedAuthnContext holds unexpected content");
	}
	if (n == 0)
		return UNSUPPORTED(st, "RequestedAuthnContext without AuthnContextClassRef");
	if (n > MAX_CLASSREFS)
		return UNSUPPORTED(st, "too many AuthnContextClassRef elements");
	if ((out->requested_loa = calloc(n, sizeof(char *))) == NULL)
		return oom(e);
	for (xmlNodePtr k = rac->children; k; k = k->next) {
		if (!idp_areq_is_el(k, IDP_NS_SAML, "AuthnContextClassRef"))
			continue;
		efos_err te = { 0 };
		char *v = idp_areq_text(k, MAX_URI_LEN, &te);
		if (v == NULL)
			return te.code == EFOS_E_INTERNAL ? efos_fail(e, te.code, "%s", te.msg)
							  : UNSUPPORTED(st, "AuthnContextClassRef: %s", te.msg);
		out->requested_loa[out->n_requested_loa++] = v;
	}
	/* Exactly one of the requested URIs is answered with; the first we support. */
	for (size_t i = 0; i < out->n_requested_loa; i++)
		if (idp_areq_in_list(supported, out->requested_loa[i]))
			return (out->chosen_loa = strdup(out->requested_loa[i])) ? 0 : oom(e);
	return idp_areq_answer(st, IDP_STATUS_REQUESTER, IDP_STATUS_NO_AUTHN_CONTEXT,
			       "None of the requested authentication contexts is supported (this identity provider "
			       "offers %s)", supported[0] ? supported[0] : "none");
}

/* ---- SignMessage (spec §6) ----------------------------------------------------------------- */

struct aes_alg {
	const char *uri;
	const EVP_CIPHER *(*cipher)(void);
	size_t key_len;
	bool gcm;
};
static const struct aes_alg aes_algs[] = {
	{ "http://www.w3.org/2001/04/xmlenc#aes128-cbc", EVP_aes_128_cbc, 16, false },
	{ "http://www.w3.org/2001/04/xmlenc#aes192-cbc", EVP_aes_192_cbc, 24, false },
	{ "http://www.w3.org/2001/04/xmlenc#aes256-cbc", EVP_aes_256_cbc, 32, false },
	{ "http://www.w3.org/2009/xmlenc11#aes128-gcm", EVP_aes_128_gcm, 16, true },
	{ "http://www.w3.org/2009/xmlenc11#aes192-gcm", EVP_aes_192_gcm, 24, true },
	{ "http://www.w3.org/2009/xmlenc11#aes256-gcm", EVP_aes_256_gcm, 32, true },
};

static xmlNodePtr first_child_el(xmlNodePtr n, const char *ns, const char *name)
{
	for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
		if (idp_areq_is_el(c, ns, name))
			return c;
	return NULL;
}

static char *alg_of(xmlNodePtr parent)
{
	xmlNodePtr m = first_child_el(parent, IDP_NS_XENC, "EncryptionMethod");
	return m ? idp_areq_attr(m, "Algorithm") : NULL;
}

/* The base64 CipherData/CipherValue of an EncryptedData or EncryptedKey. */
static int cipher_value(xmlNodePtr parent, size_t max, unsigned char **out, size_t *len)
{
	xmlNodePtr cd = first_child_el(parent, IDP_NS_XENC, "CipherData");
	xmlNodePtr cv = first_child_el(cd, IDP_NS_XENC, "CipherValue");
	if (cv == NULL)
		return -1;
	efos_err te = { 0 };
	char *b64 = idp_areq_text(cv, max * 4 / 3 + 1024, &te);
	if (b64 == NULL)
		return -1;
	int rc = idp_areq_base64_decode(b64, strlen(b64), max, out, len);
	free(b64);
	return rc;
}

/* Unwraps the content key with one of the EncryptedKeys (RSA-OAEP-MGF1P, spec §1.10). */
static int unwrap_key(xmlNodePtr const *eks, size_t neks, const struct idp_ext_ctx *c, unsigned char *key,
		      size_t keycap, size_t *keylen, char *why, size_t whycap)
{
	snprintf(why, whycap, "no EncryptedKey");
	for (size_t i = 0; i < neks; i++) {
		char *alg = alg_of(eks[i]);
		const EVP_MD *md = EVP_sha1();
		bool ok = alg != NULL && strcmp(alg, ALG_RSA_OAEP_MGF1P) == 0;
		free(alg);
		if (!ok) {
			snprintf(why, whycap, "the key transport algorithm is not rsa-oaep-mgf1p");
			continue;
		}
		xmlNodePtr em = first_child_el(eks[i], IDP_NS_XENC, "EncryptionMethod");
		xmlNodePtr dm = first_child_el(em, IDP_NS_DS, "DigestMethod");
		if (dm != NULL) {
			char *d = idp_areq_attr(dm, "Algorithm");
			md = d == NULL ? NULL
			     : strcmp(d, "http://www.w3.org/2000/09/xmldsig#sha1") == 0 ? EVP_sha1()
			     : strcmp(d, "http://www.w3.org/2001/04/xmlenc#sha256") == 0 ? EVP_sha256()
			     : strcmp(d, "http://www.w3.org/2001/04/xmldsig-more#sha384") == 0 ? EVP_sha384()
			     : strcmp(d, "http://www.w3.org/2001/04/xmlenc#sha512") == 0 ? EVP_sha512()
											    : NULL;
			free(d);
			if (md == NULL) {
				snprintf(why, whycap, "the OAEP digest is not supported");
				continue;
			}
		}
		unsigned char *wrapped = NULL;
		size_t wlen = 0;
		if (cipher_value(eks[i], MAX_WRAPPED_KEY, &wrapped, &wlen) < 0) {
			snprintf(why, whycap, "the EncryptedKey's CipherValue is not valid");
			continue;
		}
		efos_err de = { 0 };
		int rc = c->p->oaep_fn(c->p->oaep_arg, md, EVP_sha1(), wrapped, wlen, key, keycap, keylen, &de);
		free(wrapped);
		if (rc == 0)
			return 0;
		/* the reason (an HSM message) goes to our log, not to the SP */
		log_warn("SignMessage key transport: %s", de.msg);
		snprintf(why, whycap, "the key could not be decrypted with our encryption key");
	}
	return -1;
}

/* The csig:Message inside the decrypted plaintext, as its base64 text. The plaintext is an
 * element serialised on its own, so the csig prefix may rely on a declaration of the outer
 * document: it is parsed inside a wrapper that declares it, with the same safe parser. */
static char *message_from_plaintext(const unsigned char *pt, size_t len, size_t max_b64)
{
	static const char head[] = "<w xmlns:csig=\"" IDP_NS_CSIG "\">";
	static const char tail[] = "</w>";
	/* an XML declaration at the start of the plaintext */
	if (len >= 5 && memcmp(pt, "<?xml", 5) == 0) {
		const unsigned char *end = memmem(pt, len, "?>", 2);
		if (end == NULL)
			return NULL;
		len -= (size_t)(end + 2 - pt);
		pt = end + 2;
	}
	size_t total = sizeof head - 1 + len + sizeof tail - 1;
	char *doc_text = malloc(total + 1);
	if (doc_text == NULL)
		return NULL;
	memcpy(doc_text, head, sizeof head - 1);
	memcpy(doc_text + sizeof head - 1, pt, len);
	memcpy(doc_text + sizeof head - 1 + len, tail, sizeof tail);
	xmlDocPtr doc = NULL;
	efos_err pe = { 0 };
	char *out = NULL;
	if (xml_parse_untrusted(doc_text, total, NULL, &doc, &pe) == 0) {
		xmlNodePtr root = xmlDocGetRootElement(doc), msg = NULL;
		bool ok = root != NULL;
		for (xmlNodePtr k = root ? root->children : NULL; k && ok; k = k->next) {
			if (idp_areq_is_blank(k))
				continue;
			if (msg == NULL && idp_areq_is_el(k, IDP_NS_CSIG, "Message"))
				msg = k;
			else
				ok = false;
		}
		if (ok && msg != NULL)
			out = idp_areq_text(msg, max_b64, &pe);
		xmlFreeDoc(doc);
	}
	efos_wipe(doc_text, total);
	free(doc_text);
	return out;
}

static int decrypt_message(xmlNodePtr encmsg, const struct idp_ext_ctx *c, size_t max_msg, char **b64_out,
			   struct idp_status *st, efos_err *e)
{
	if (c->p->oaep_fn == NULL)
		return UNSUPPORTED(st, "The encrypted SignMessage cannot be decrypted: no decryption key is configured");
	xmlNodePtr ed = NULL, eks[MAX_ENC_KEYS];
	size_t neks = 0;
	for (xmlNodePtr k = encmsg->children; k; k = k->next) {
		if (idp_areq_is_blank(k))
			continue;
		if (ed == NULL && idp_areq_is_el(k, IDP_NS_XENC, "EncryptedData"))
			ed = k;
		else if (ed != NULL && idp_areq_is_el(k, IDP_NS_XENC, "EncryptedKey") && neks < MAX_ENC_KEYS)
			eks[neks++] = k;
		else
			return UNSUPPORTED(st, "EncryptedMessage holds unexpected content");
	}
	if (ed == NULL)
		return UNSUPPORTED(st, "EncryptedMessage without EncryptedData");
	xmlNodePtr ki = first_child_el(ed, IDP_NS_DS, "KeyInfo");
	for (xmlNodePtr k = ki ? ki->children : NULL; k && neks < MAX_ENC_KEYS; k = k->next)
		if (idp_areq_is_el(k, IDP_NS_XENC, "EncryptedKey"))
			eks[neks++] = k;
	char *alg_uri = alg_of(ed);
	const struct aes_alg *a = NULL;
	for (size_t i = 0; alg_uri != NULL && i < sizeof aes_algs / sizeof aes_algs[0]; i++)
		if (strcmp(aes_algs[i].uri, alg_uri) == 0)
			a = &aes_algs[i];
	free(alg_uri);
	if (a == NULL)
		return UNSUPPORTED(st, "The SignMessage's encryption algorithm is not supported (AES-CBC or AES-GCM)");

	unsigned char key[64];
	size_t keylen = 0;
	char why[128];
	if (unwrap_key(eks, neks, c, key, sizeof key, &keylen, why, sizeof why) < 0)
		return UNSUPPORTED(st, "The encrypted SignMessage cannot be decrypted: %s", why);
	if (keylen != a->key_len) {
		efos_wipe(key, sizeof key);
		return UNSUPPORTED(st, "The encrypted SignMessage cannot be decrypted: wrong key length");
	}
	size_t max_ct = max_msg * 2 + 64 * 1024;
	unsigned char *ct = NULL, *pt = NULL;
	size_t ctlen = 0, ptlen = 0;
	int rc;
	if (cipher_value(ed, max_ct, &ct, &ctlen) < 0) {
		rc = UNSUPPORTED(st, "The encrypted SignMessage's CipherValue is not valid or too large");
	} else if (xmlenc_aes_decrypt(a->cipher(), a->gcm, key, ct, ctlen, &pt, &ptlen) != XMLENC_AES_OK) {
		rc = UNSUPPORTED(st, "The encrypted SignMessage cannot be decrypted (wrong key or corrupted data)");
	} else if ((*b64_out = message_from_plaintext(pt, ptlen, max_msg * 4 / 3 + 1024)) == NULL) {
		rc = UNSUPPORTED(st, "The decrypted SignMessage is not a csig:Message element");
	} else {
		rc = 0;
	}
	efos_wipe(key, sizeof key);
	if (pt != NULL) {
		efos_wipe(pt, ptlen);
		free(pt);
	}
	free(ct);
	(void)e;
	return rc;
}

static int parse_sign_message(xmlNodePtr sm, const struct idp_ext_ctx *c, struct idp_authn_request *out,
			      struct idp_status *st, efos_err *e)
{
	if (!out->is_sigservice)
		return UNSUPPORTED(st, "A SignMessage is only accepted from a signature service "
				   "(entity category http://id.elegnamnden.se/st/1.0/sigservice)");
	size_t max_msg = c->p->max_sign_message_bytes ? c->p->max_sign_message_bytes : IDP_SIGN_MESSAGE_MAX_BYTES;
	char *must = idp_areq_attr(sm, "MustShow"), *de = idp_areq_attr(sm, "DisplayEntity"),
	     *mime = idp_areq_attr(sm, "MimeType"), *b64 = NULL;
	unsigned char *msg = NULL;
	size_t msglen = 0;
	int rc = 0;
	xmlNodePtr plain = NULL, enc = NULL;
	for (xmlNodePtr k = sm->children; k && rc == 0; k = k->next) {
		if (idp_areq_is_blank(k))
			continue;
		if (plain == NULL && enc == NULL && idp_areq_is_el(k, IDP_NS_CSIG, "Message"))
			plain = k;
		else if (plain == NULL && enc == NULL && idp_areq_is_el(k, IDP_NS_CSIG, "EncryptedMessage"))
			enc = k;
		else
			rc = UNSUPPORTED(st, "SignMessage must hold exactly one Message or EncryptedMessage");
	}
	if (rc != 0)
		goto out;
	if (plain == NULL && enc == NULL) {
		rc = UNSUPPORTED(st, "SignMessage must hold exactly one Message or EncryptedMessage");
		goto out;
	}
	if (must != NULL && idp_areq_parse_bool(must, &out->sign_message_must_show) < 0) {
		rc = UNSUPPORTED(st, "SignMessage MustShow is not an xs:boolean");
		goto out;
	}
	if (mime == NULL || strcmp(mime, "text") == 0) {
		out->sign_message_mime = IDP_SIGMSG_TEXT;
	} else if (strcmp(mime, "text/html") == 0) {
		out->sign_message_mime = IDP_SIGMSG_HTML;
	} else if (strcmp(mime, "text/markdown") == 0) {
		out->sign_message_mime = IDP_SIGMSG_MARKDOWN;
	} else {
		rc = UNSUPPORTED(st, "SignMessage MimeType %.100s is not supported", mime);
		goto out;
	}
	/* The displaying entity must be us; for an encrypted message it must be named (it says
	 * who holds the key, spec §6.1). */
	if (de != NULL && strcmp(de, c->p->entity_id) != 0) {
		rc = UNSUPPORTED(st, "The SignMessage is meant to be shown by %.150s, not by this identity provider", de);
		goto out;
	}
	if (enc != NULL && de == NULL) {
		rc = UNSUPPORTED(st, "An encrypted SignMessage must name its DisplayEntity");
		goto out;
	}
	if (plain != NULL) {
		efos_err te = { 0 };
		if ((b64 = idp_areq_text(plain, max_msg * 4 / 3 + 1024, &te)) == NULL) {
			rc = te.code == EFOS_E_INTERNAL ? efos_fail(e, te.code, "%s", te.msg)
							: UNSUPPORTED(st, "SignMessage Message: %s", te.msg);
			goto out;
		}
	} else {
		if ((rc = decrypt_message(enc, c, max_msg, &b64, st, e)) != 0)
			goto out;
		out->sign_message_encrypted = true;
	}
	if (idp_areq_base64_decode(b64, strlen(b64), max_msg, &msg, &msglen) < 0) {
		rc = UNSUPPORTED(st, "The SignMessage is not valid base64 or longer than %zu bytes", max_msg);
		goto out;
	}
	if (!idp_areq_utf8_ok(msg, msglen)) {
		rc = UNSUPPORTED(st, "The SignMessage is not UTF-8 text");
		goto out;
	}
	out->sign_message = (char *)msg;
	out->sign_message_len = msglen;
	msg = NULL;
	out->sign_message_display_entity = de;
	de = NULL;
	out->has_sign_message = true;
out:
	free(must);
	free(de);
	free(mime);
	free(b64);
	free(msg);
	return rc;
}

/* ---- SADRequest (spec §5.1) ------------------------------------------------------------------ */

static int parse_sad_request(xmlNodePtr sad, const struct idp_ext_ctx *c, struct idp_authn_request *out,
			     struct idp_status *st, efos_err *e)
{
	if (!out->is_sigservice)
		return UNSUPPORTED(st, "A SADRequest is only accepted from a signature service");
	if (!c->we_declare_scal2)
		return 0; /* an IdP that does not declare scal2 may ignore it (spec §1.2) */
	static const char *const order[] = { "RequesterID", "SignRequestID", "DocCount", "RequestedVersion",
					     "RequestParams" };
	xmlNodePtr el[5] = { 0 };
	size_t next = 0;
	for (xmlNodePtr k = sad->children; k; k = k->next) {
		if (idp_areq_is_blank(k))
			continue;
		size_t i = next;
		while (i < 5 && !idp_areq_is_el(k, IDP_NS_SAP, order[i]))
			i++;
		if (i == 5)
			return UNSUPPORTED(st, "SADRequest holds unexpected content");
		el[i] = k;
		next = i + 1;
	}
	if (el[0] == NULL || el[1] == NULL || el[2] == NULL)
		return UNSUPPORTED(st, "SADRequest needs RequesterID, SignRequestID and DocCount");
	char *id = idp_areq_attr(sad, "ID");
	if (id == NULL || id[0] == '\0' || strlen(id) > 256) {
		free(id);
		return UNSUPPORTED(st, "SADRequest has no valid ID");
	}
	out->sad_request_id = id;
	efos_err te = { 0 };
	char *vals[3] = { 0 };
	for (int i = 0; i < 3; i++) {
		if ((vals[i] = idp_areq_text(el[i], i == 0 ? MAX_URI_LEN : 256, &te)) == NULL) {
			free(vals[0]);
			free(vals[1]);
			return UNSUPPORTED(st, "SADRequest %s: %s", order[i], te.msg);
		}
	}
	out->sad_requester_id = vals[0];
	out->sad_sign_request_id = vals[1];
	char *end = NULL;
	long docs = strtol(vals[2], &end, 10);
	bool docs_ok = vals[2][0] != '\0' && *end == '\0' && docs >= 1 && docs <= 1000 && isdigit((unsigned char)vals[2][0]);
	free(vals[2]);
	if (!docs_ok)
		return UNSUPPORTED(st, "SADRequest DocCount must be a number of documents from 1 to 1000");
	out->sad_doc_count = (int)docs;
	if (out->sad_sign_request_id[0] == '\0')
		return UNSUPPORTED(st, "SADRequest SignRequestID is empty");
	/* The SAD's audience is RequesterID: it must be the signature service that asks. */
	if (strcmp(out->sad_requester_id, c->issuer) != 0)
		return UNSUPPORTED(st, "SADRequest RequesterID is not the requesting signature service");
	if (el[3] != NULL) {
		if ((out->sad_version = idp_areq_text(el[3], 16, &te)) == NULL)
			return UNSUPPORTED(st, "SADRequest RequestedVersion: %s", te.msg);
	} else if ((out->sad_version = strdup("1.0")) == NULL) {
		return oom(e);
	}
	if (strcmp(out->sad_version, "1.0") != 0)
		return UNSUPPORTED(st, "SAD version %.16s is not supported (1.0)", out->sad_version);
	out->sad_requested = true;
	return 0;
}

/* ---- PrincipalSelection (spec §8) ------------------------------------------------------------- */

static int parse_principal_selection(xmlNodePtr ps, struct idp_authn_request *out, struct idp_status *st,
				     efos_err *e)
{
	size_t n = 0;
	for (xmlNodePtr k = ps->children; k; k = k->next) {
		if (idp_areq_is_blank(k))
			continue;
		if (!idp_areq_is_el(k, IDP_NS_PSC, "MatchValue"))
			return UNSUPPORTED(st, "PrincipalSelection holds unexpected content");
		n++;
	}
	if (n == 0)
		return UNSUPPORTED(st, "PrincipalSelection without MatchValue");
	if (n > MAX_MATCH_VALUES)
		return UNSUPPORTED(st, "too many PrincipalSelection MatchValues");
	out->principal_attr_names = calloc(n, sizeof(char *));
	out->principal_attr_values = calloc(n, sizeof(char *));
	if (out->principal_attr_names == NULL || out->principal_attr_values == NULL)
		return oom(e);
	for (xmlNodePtr k = ps->children; k; k = k->next) {
		if (!idp_areq_is_el(k, IDP_NS_PSC, "MatchValue"))
			continue;
		char *name = idp_areq_attr(k, "Name"), *fmt = idp_areq_attr(k, "NameFormat");
		bool fmt_ok = fmt == NULL || strcmp(fmt, ATTRNAME_FORMAT_URI) == 0;
		free(fmt);
		if (name == NULL || name[0] == '\0' || strlen(name) > MAX_URI_LEN || !fmt_ok) {
			free(name);
			return UNSUPPORTED(st, "PrincipalSelection MatchValue needs a Name (URI name format)");
		}
		efos_err te = { 0 };
		char *v = idp_areq_text(k, MAX_MATCH_VALUE_LEN, &te);
		if (v == NULL || v[0] == '\0') {
			free(name);
			free(v);
			return UNSUPPORTED(st, "PrincipalSelection MatchValue has no valid value");
		}
		out->principal_attr_names[out->n_principal] = name;
		out->principal_attr_values[out->n_principal] = v;
		out->n_principal++;
	}
	return 0;
}

int idp_areq_parse_extensions(xmlNodePtr ext, const struct idp_ext_ctx *c, struct idp_authn_request *out,
			      struct idp_status *st, efos_err *e)
{
	xmlNodePtr sm = NULL, sad = NULL, ps = NULL;
	for (xmlNodePtr k = ext->children; k; k = k->next) {
		if (idp_areq_is_blank(k))
			continue;
		if (k->type != XML_ELEMENT_NODE)
			return UNSUPPORTED(st, "Extensions holds text");
		xmlNodePtr *slot = idp_areq_is_el(k, IDP_NS_CSIG, "SignMessage")      ? &sm
				   : idp_areq_is_el(k, IDP_NS_SAP, "SADRequest")         ? &sad
				   : idp_areq_is_el(k, IDP_NS_PSC, "PrincipalSelection") ? &ps
											 : NULL;
		if (slot == NULL)
			continue; /* other extensions (e.g. UserMessage, which we do not declare) are ignored */
		if (*slot != NULL)
			return UNSUPPORTED(st, "Extensions holds <%s> twice", (const char *)k->name);
		*slot = k;
	}
	int rc;
	if (ps != NULL && (rc = parse_principal_selection(ps, out, st, e)) != 0)
		return rc;
	if (sm != NULL && (rc = parse_sign_message(sm, c, out, st, e)) != 0)
		return rc;
	if (sad != NULL && (rc = parse_sad_request(sad, c, out, st, e)) != 0)
		return rc;
	return 0;
}
