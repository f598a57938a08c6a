/* idp/authn_request: the AuthnRequest intake (spec §1.5), every check and its classification.
 *
 * SP metadata is an in-memory EntitiesDescriptor with generated keys, read with idp_md_parse.
 * Redirect requests are built the way mod_auth_mellon sends them (raw DEFLATE, base64,
 * %-encoding, rsa-sha256 over "SAMLRequest=..&RelayState=..&SigAlg=.."); POST requests are
 * signed with xmlsec (an independent signer). The replay cache is an in-memory stand-in here,
 * and the PostgreSQL one is tested against the test database at the end. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <zlib.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/templates.h>
#include <xmlsec/crypto.h>
#include <xmlsec/openssl/evp.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include "core/db.h"
#include "hsm/hsm.h"
#include "idp/authn_request.h"
#include "idp/metadata_store.h"
#include "idp/replay.h"
#include "test_hsm_common.h"

#define NS_SAMLP "urn:oasis:names:tc:SAML:2.0:protocol"
#define NS_SAML "urn:oasis:names:tc:SAML:2.0:assertion"
#define NS_CSIG "http://id.elegnamnden.se/csig/1.1/dss-ext/ns"
#define NOW ((time_t)1767225600) /* 2026-01-01T00:00:00Z */
#define IDP_ID "https://idp.efos.se/idp"
#define EP_REDIRECT "https://idp.efos.se/idp/sso/redirect"
#define EP_POST "https://idp.efos.se/idp/sso/post"
#define EP_HOK "https://mtls.idp.efos.se/idp/hok/sso/post"
#define SP1 "https://sp.example.se/sp"
#define SP_UNSIGNED "https://open.example.se/sp"
#define SP_SIG "https://sign.example.se/sigservice"
#define SP_NOENC "https://noenc.example.se/sp"
#define SP_NOCONTRACT "https://other.example.se/sp"
#define POST_BINDING "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
#define RSA_SHA256 "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
#define RSA_SHA1 "http://www.w3.org/2000/09/xmldsig#rsa-sha1"

static EVP_PKEY *K_SP, *K_ENC, *K_EVIL, *K_IDP_SW;
static struct idp_md_batch *BATCH;
static const struct idp_sp *SPS[8];
static size_t NSPS;
static struct hsm *H;
static struct hsm_key *HK_ENC;
static int id_counter;
static time_t test_now = NOW; /* "now" of the requests and of the intake */

/* ---- fixtures ------------------------------------------------------------------------------ */

static EVP_PKEY *gen_rsa(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	assert_non_null(k);
	return k;
}

static char *b64(const unsigned char *d, size_t n)
{
	char *o = malloc(4 * ((n + 2) / 3) + 1);
	assert_non_null(o);
	EVP_EncodeBlock((unsigned char *)o, d, (int)n);
	return o;
}

/* A self-signed certificate for k, base64 DER (what metadata carries). */
static char *cert_b64(EVP_PKEY *k)
{
	X509 *x = X509_new();
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_NAME *n = X509_NAME_new();
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"sp", -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_NAME_free(n);
	X509_gmtime_adj(X509_getm_notBefore(x), -86400);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 3650);
	X509_set_pubkey(x, k);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	unsigned char *der = NULL;
	int len = i2d_X509(x, &der);
	char *o = b64(der, (size_t)len);
	OPENSSL_free(der);
	X509_free(x);
	return o;
}

static void append(char **buf, size_t *len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	assert_true(vasprintf(&s, fmt, ap) >= 0);
	va_end(ap);
	size_t n = strlen(s);
	*buf = realloc(*buf, *len + n + 1);
	memcpy(*buf + *len, s, n + 1);
	*len += n;
	free(s);
}

static void add_sp(char **md, size_t *len, const char *entity_id, bool signs, const char *ecs, bool enc,
		   const char *sig_cert, const char *enc_cert)
{
	append(md, len, "<md:EntityDescriptor entityID=\"%s\"><md:Extensions><mdattr:EntityAttributes>"
	       "<saml:Attribute Name=\"http://macedir.org/entity-category\" "
	       "NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-format:uri\">", entity_id);
	char *list = strdup(ecs), *save = NULL;
	for (char *t = strtok_r(list, " ", &save); t; t = strtok_r(NULL, " ", &save))
		append(md, len, "<saml:AttributeValue>%s</saml:AttributeValue>", t);
	free(list);
	append(md, len, "</saml:Attribute></mdattr:EntityAttributes></md:Extensions>"
	       "<md:SPSSODescriptor AuthnRequestsSigned=\"%s\" "
	       "protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">"
	       "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>%s"
	       "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>",
	       signs ? "true" : "false", sig_cert);
	if (enc)
		append(md, len, "<md:KeyDescriptor use=\"encryption\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>%s"
		       "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>", enc_cert);
	/* the host of the entity ID, for its ACS locations */
	char host[128];
	sscanf(entity_id, "https://%127[^/]", host);
	append(md, len,
	       "<md:AssertionConsumerService Binding=\"" POST_BINDING "\" Location=\"https://%s/acs\" index=\"0\" isDefault=\"true\"/>"
	       "<md:AssertionConsumerService Binding=\"" POST_BINDING "\" Location=\"https://%s/acs2\" index=\"1\"/>"
	       "<md:AssertionConsumerService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact\" "
	       "Location=\"https://%s/artifact\" index=\"2\"/>"
	       "<md:AssertionConsumerService Binding=\"urn:oasis:names:tc:SAML:2.0:profiles:holder-of-key:SSO:browser\" "
	       "hoksso:ProtocolBinding=\"" POST_BINDING "\" Location=\"https://%s/hok-acs\" index=\"3\"/>"
	       "</md:SPSSODescriptor></md:EntityDescriptor>", host, host, host, host);
}

static int group_setup(void **state)
{
	if (xmlSecInit() < 0 || xmlSecCryptoAppInit(NULL) < 0 || xmlSecCryptoInit() < 0)
		return -1;
	K_SP = gen_rsa();
	K_ENC = gen_rsa();
	K_EVIL = gen_rsa();
	K_IDP_SW = gen_rsa();
	char *sc = cert_b64(K_SP), *ec = cert_b64(K_ENC);
	char *md = NULL;
	size_t len = 0;
	append(&md, &len, "<md:EntitiesDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" "
	       "xmlns:mdattr=\"urn:oasis:names:tc:SAML:metadata:attribute\" xmlns:saml=\"" NS_SAML "\" "
	       "xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" "
	       "xmlns:hoksso=\"urn:oasis:names:tc:SAML:2.0:profiles:holder-of-key:SSO:browser\">");
	const char *std = "http://id.swedenconnect.se/ec/1.0/loa4-orgid http://id.elegnamnden.se/st/1.0/public-sector-sp "
			  "http://id.swedenconnect.se/contract/sc/prepaid-auth-2021";
	add_sp(&md, &len, SP1, true, std, true, sc, ec);
	add_sp(&md, &len, SP_UNSIGNED, false, std, true, sc, ec);
	add_sp(&md, &len, SP_SIG, true,
	       "http://id.elegnamnden.se/ec/1.0/loa4-pnr http://id.elegnamnden.se/st/1.0/sigservice "
	       "http://id.elegnamnden.se/sprop/1.0/scal2 http://id.swedenconnect.se/contract/sc/prepaid-auth-2021",
	       true, sc, ec);
	add_sp(&md, &len, SP_NOENC, true, std, false, sc, ec);
	add_sp(&md, &len, SP_NOCONTRACT, true,
	       "http://id.swedenconnect.se/ec/1.0/loa4-orgid http://id.swedenconnect.se/contract/sc/sweden-connect", true,
	       sc, ec);
	append(&md, &len, "</md:EntitiesDescriptor>");
	free(sc);
	free(ec);
	struct idp_md_parse_opts o = { .source = "test", .max_bytes = 1 << 20, .now = NOW };
	size_t skipped = 0;
	efos_err e = { 0 };
	if (idp_md_parse(md, len, &o, &BATCH, &skipped, &e) != 0) {
		fprintf(stderr, "idp_md_parse: %s\n", e.msg);
		free(md);
		return -1;
	}
	free(md);
	NSPS = idp_md_batch_count(BATCH);
	if (NSPS != 5 || skipped != 0) {
		fprintf(stderr, "metadata: %zu SPs, %zu skipped\n", NSPS, skipped);
		return -1;
	}
	for (size_t i = 0; i < NSPS; i++)
		SPS[i] = idp_md_batch_sp(BATCH, i);
	H = test_hsm_open(2);
	HK_ENC = test_session_key(H, HSM_KEY_RSA, 2048, "idp-request-enc");
	return 0;
}

static int group_teardown(void **state)
{
	idp_md_batch_free(BATCH);
	hsm_key_free(HK_ENC);
	hsm_close(H);
	EVP_PKEY_free(K_SP);
	EVP_PKEY_free(K_ENC);
	EVP_PKEY_free(K_EVIL);
	EVP_PKEY_free(K_IDP_SW);
	xmlSecCryptoShutdown();
	xmlSecCryptoAppShutdown();
	xmlSecShutdown();
	return 0;
}

/* ---- replay stand-ins ---------------------------------------------------------------------- */

static char *seen[512];
static size_t nseen;

static int mem_replay(void *arg, const char *issuer, const char *id, time_t exp, efos_err *e)
{
	char *k = NULL;
	assert_true(asprintf(&k, "%s\n%s", issuer, id) > 0);
	for (size_t i = 0; i < nseen; i++)
		if (strcmp(seen[i], k) == 0) {
			free(k);
			return efos_fail(e, EFOS_E_CONFLICT, "replay");
		}
	assert_true(nseen < sizeof seen / sizeof seen[0]);
	assert_true(exp == NOW + 180 + 60 || arg != NULL); /* IssueInstant + max age + skew */
	seen[nseen++] = k;
	return 0;
}

static int down_replay(void *arg, const char *issuer, const char *id, time_t exp, efos_err *e)
{
	return efos_fail(e, EFOS_E_UNAVAILABLE, "database unavailable: connection refused");
}

static int teardown_seen(void **state)
{
	for (size_t i = 0; i < nseen; i++)
		free(seen[i]);
	nseen = 0;
	return 0;
}

/* Key transport with the software key K_IDP_SW (the CBC test); the HSM one is the real path. */
static int sw_oaep(void *arg, const EVP_MD *oaep_md, const EVP_MD *mgf1_md, const unsigned char *in, size_t inlen,
		   unsigned char *out, size_t outcap, size_t *outlen, efos_err *e)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(K_IDP_SW, NULL);
	unsigned char buf[512];
	size_t n = sizeof buf;
	int ok = c && EVP_PKEY_decrypt_init(c) > 0 && EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) > 0 &&
		 EVP_PKEY_CTX_set_rsa_oaep_md(c, oaep_md) > 0 && EVP_PKEY_CTX_set_rsa_mgf1_md(c, mgf1_md) > 0 &&
		 EVP_PKEY_decrypt(c, buf, &n, in, inlen) > 0 && n <= outcap;
	EVP_PKEY_CTX_free(c);
	if (!ok)
		return efos_fail(e, EFOS_E_AUTH, "decrypt failed");
	memcpy(out, buf, n);
	*outlen = n;
	return 0;
}

static struct idp_hsm_enc_keys hsm_keys;

static struct idp_intake_params params(void)
{
	static struct hsm_key *keys[1];
	keys[0] = HK_ENC;
	hsm_keys = (struct idp_hsm_enc_keys){ .keys = keys, .n = 1 };
	return (struct idp_intake_params){
		.entity_id = IDP_ID, .clock_skew_s = 60, .max_age_s = 180, .require_signed = true,
		.replay_fn = mem_replay, .oaep_fn = idp_intake_hsm_oaep, .oaep_arg = &hsm_keys,
	};
}

/* ---- building requests ------------------------------------------------------------------------ */

struct rq {
	const char *id;       /* NULL: a fresh one */
	const char *issuer;   /* NULL: SP1 */
	long ii_offset;       /* IssueInstant = NOW + this */
	const char *dest;     /* NULL: the endpoint; "": none */
	const char *attrs;    /* more attributes of the root */
	const char *body;     /* elements after the Issuer */
};

static char *rq_xml(const struct rq *r, const char *endpoint, char *idbuf)
{
	if (r->id)
		snprintf(idbuf, 64, "%s", r->id);
	else
		snprintf(idbuf, 64, "_req%d", ++id_counter);
	char ii[32];
	time_t t = test_now + r->ii_offset;
	strftime(ii, sizeof ii, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	char dest[300] = "";
	if (r->dest == NULL)
		snprintf(dest, sizeof dest, " Destination=\"%s\"", endpoint);
	else if (r->dest[0])
		snprintf(dest, sizeof dest, " Destination=\"%s\"", r->dest);
	char *x = NULL;
	assert_true(asprintf(&x, "<samlp:AuthnRequest xmlns:samlp=\"" NS_SAMLP "\" xmlns:saml=\"" NS_SAML "\" "
			     "ID=\"%s\" Version=\"2.0\" IssueInstant=\"%s\"%s %s>"
			     "<saml:Issuer>%s</saml:Issuer>%s</samlp:AuthnRequest>",
			     idbuf, ii, dest, r->attrs ? r->attrs : "", r->issuer ? r->issuer : SP1,
			     r->body ? r->body : "") > 0);
	return x;
}

static char *pct(const char *s)
{
	char *o = malloc(strlen(s) * 3 + 1), *p = o;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("-._~", c))
			*p++ = (char)c;
		else
			p += sprintf(p, "%%%02X", c);
	}
	*p = '\0';
	return o;
}

static char *deflate_b64(const char *xml)
{
	z_stream z = { 0 };
	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	size_t cap = deflateBound(&z, strlen(xml));
	unsigned char *out = malloc(cap);
	z.next_in = (unsigned char *)xml;
	z.avail_in = (unsigned)strlen(xml);
	z.next_out = out;
	z.avail_out = (unsigned)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	char *o = b64(out, z.total_out);
	deflateEnd(&z);
	free(out);
	return o;
}

/* The query string mod_auth_mellon would redirect with; k NULL: unsigned. */
static char *redirect_query(const char *xml, const char *relay, EVP_PKEY *k, const char *sigalg, const EVP_MD *md)
{
	char *d = deflate_b64(xml), *req = pct(d), *q = NULL;
	free(d);
	if (relay) {
		char *rs = pct(relay);
		assert_true(asprintf(&q, "SAMLRequest=%s&RelayState=%s", req, rs) > 0);
		free(rs);
	} else {
		assert_true(asprintf(&q, "SAMLRequest=%s", req) > 0);
	}
	free(req);
	if (k == NULL)
		return q;
	char *sa = pct(sigalg), *signed_part = NULL;
	assert_true(asprintf(&signed_part, "%s&SigAlg=%s", q, sa) > 0);
	free(sa);
	free(q);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned char sig[512];
	size_t siglen = sizeof sig;
	assert_int_equal(EVP_DigestSignInit(c, NULL, md, NULL, k), 1);
	assert_int_equal(EVP_DigestSign(c, sig, &siglen, (unsigned char *)signed_part, strlen(signed_part)), 1);
	EVP_MD_CTX_free(c);
	char *sb = b64(sig, siglen), *sp = pct(sb), *full = NULL;
	assert_true(asprintf(&full, "%s&Signature=%s", signed_part, sp) > 0);
	free(sb);
	free(sp);
	free(signed_part);
	return full;
}

static xmlDocPtr read_doc(const char *xml, const char *id)
{
	xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET);
	assert_non_null(doc);
	xmlNodePtr root = xmlDocGetRootElement(doc);
	xmlAttrPtr a = xmlHasProp(root, BAD_CAST "ID");
	assert_non_null(a);
	xmlAddID(NULL, doc, BAD_CAST id, a);
	return doc;
}

/* Signs root (enveloped, exc-c14n, rsa-sha256 unless sigm given) with xmlsec; the signature
 * goes right after the Issuer, as the schema orders it. */
static void xmlsec_sign_root(xmlDocPtr doc, const char *id, EVP_PKEY *k, xmlSecTransformId sigm)
{
	xmlNodePtr root = xmlDocGetRootElement(doc);
	xmlNodePtr sig = xmlSecTmplSignatureCreateNsPref(doc, xmlSecTransformExclC14NId, sigm, NULL, BAD_CAST "ds");
	assert_non_null(sig);
	xmlAddNextSibling(xmlFirstElementChild(root), sig);
	char uri[80];
	snprintf(uri, sizeof uri, "#%s", id);
	xmlNodePtr ref = xmlSecTmplSignatureAddReference(sig, xmlSecTransformSha256Id, NULL, BAD_CAST uri, NULL);
	assert_non_null(xmlSecTmplReferenceAddTransform(ref, xmlSecTransformEnvelopedId));
	assert_non_null(xmlSecTmplReferenceAddTransform(ref, xmlSecTransformExclC14NId));
	EVP_PKEY_up_ref(k);
	xmlSecKeyDataPtr data = xmlSecOpenSSLEvpKeyAdopt(k);
	xmlSecKeyPtr key = xmlSecKeyCreate();
	assert_int_equal(xmlSecKeySetValue(key, data), 0);
	xmlSecDSigCtxPtr ctx = xmlSecDSigCtxCreate(NULL);
	ctx->signKey = key;
	assert_int_equal(xmlSecDSigCtxSign(ctx, sig), 0);
	xmlSecDSigCtxDestroy(ctx);
}

static char *dump_root(xmlDocPtr doc)
{
	xmlBufferPtr b = xmlBufferCreate();
	xmlNodeDump(b, doc, xmlDocGetRootElement(doc), 0, 0);
	char *o = strdup((const char *)xmlBufferContent(b));
	xmlBufferFree(b);
	return o;
}

/* The signed XML text of a request (k NULL: unsigned). */
static char *signed_xml(const char *xml, const char *id, EVP_PKEY *k, xmlSecTransformId sigm)
{
	if (k == NULL)
		return strdup(xml);
	xmlDocPtr doc = read_doc(xml, id);
	xmlsec_sign_root(doc, id, k, sigm);
	char *o = dump_root(doc);
	xmlFreeDoc(doc);
	return o;
}

static char *b64s(const char *s)
{
	return b64((const unsigned char *)s, strlen(s));
}

struct result {
	int rc;
	struct idp_authn_request out;
	struct idp_status st;
	efos_err e;
};

static void run_full(const struct idp_intake_params *p, enum idp_binding b, const char *payload, const char *relay,
		     const char *endpoint, bool hok, struct result *r)
{
	struct idp_intake_input in = {
		.binding = b, .endpoint_url = endpoint, .hok = hok, .sps = SPS, .n_sps = NSPS, .now = test_now,
	};
	if (b == IDP_BINDING_REDIRECT) {
		in.query = payload;
		in.query_len = strlen(payload);
	} else {
		in.saml_request = payload;
		in.saml_request_len = strlen(payload);
		in.relay_state = relay;
	}
	memset(r, 0, sizeof *r);
	r->rc = idp_authn_request_intake(p, &in, &r->out, &r->st, &r->e);
}

/* POST: the request built from rq, signed with k (NULL: unsigned). */
static void post(const struct idp_intake_params *p, const struct rq *rq, EVP_PKEY *k, struct result *r)
{
	char id[64];
	char *x = rq_xml(rq, EP_POST, id);
	char *s = signed_xml(x, id, k, xmlSecTransformRsaSha256Id);
	char *b = b64s(s);
	run_full(p, IDP_BINDING_POST, b, "rs-post", EP_POST, false, r);
	free(b);
	free(s);
	free(x);
}

static void redirect(const struct idp_intake_params *p, const struct rq *rq, EVP_PKEY *k, struct result *r)
{
	char id[64];
	char *x = rq_xml(rq, EP_REDIRECT, id);
	char *q = redirect_query(x, "https://sp.example.se/page?a=1&b=2", k, RSA_SHA256, EVP_sha256());
	run_full(p, IDP_BINDING_REDIRECT, q, NULL, EP_REDIRECT, false, r);
	free(q);
	free(x);
}

static void done(struct result *r)
{
	idp_authn_request_free(&r->out);
}

#define ASSERT_UNTRUSTED(r, code_, needle)                                                              \
	do {                                                                                           \
		if ((r)->rc != -1 || (r)->e.code != (code_) || strstr((r)->e.msg, (needle)) == NULL)    \
			fail_msg("expected -1/%s with \"%s\"; got rc %d, %s: %s / status %s", \
				 efos_errcode_name(code_), needle, (r)->rc, efos_errcode_name((r)->e.code), \
				 (r)->e.msg, (r)->st.second ? (r)->st.second : "-");                   \
		assert_null((r)->out.id);                                                              \
		assert_null((r)->out.acs_url);                                                         \
	} while (0)

#define ASSERT_ANSWERABLE(r, top_, second_)                                                            \
	do {                                                                                           \
		if ((r)->rc != IDP_INTAKE_ANSWERABLE || (r)->st.second == NULL ||                      \
		    strcmp((r)->st.second, (second_)) != 0 || strcmp((r)->st.top, (top_)) != 0)        \
			fail_msg("expected answerable %s; got rc %d, %s / %s", second_, (r)->rc,       \
				 (r)->e.msg, (r)->st.second ? (r)->st.second : "-");                   \
		assert_non_null((r)->out.id);                                                          \
		assert_non_null((r)->out.issuer);                                                      \
		assert_non_null((r)->out.acs_url);                                                     \
		assert_non_null((r)->out.sp);                                                          \
	} while (0)

#define ASSERT_OK(r)                                                                                   \
	do {                                                                                           \
		if ((r)->rc != IDP_INTAKE_OK)                                                          \
			fail_msg("expected success; got rc %d, %s: %s / %s %s", (r)->rc,               \
				 efos_errcode_name((r)->e.code), (r)->e.msg,                           \
				 (r)->st.second ? (r)->st.second : "-", (r)->st.message);              \
	} while (0)

/* ---- good requests --------------------------------------------------------------------------- */

static void test_redirect_ok(void **state)
{
	struct idp_intake_params p = params();
	struct result r;
	redirect(&p, &(struct rq){ .attrs = "ForceAuthn=\"false\" IsPassive=\"false\"",
				   .body = "<samlp:NameIDPolicy Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:transient\" "
					   "AllowCreate=\"true\"/>" }, K_SP, &r);
	ASSERT_OK(&r);
	assert_string_equal(r.out.issuer, SP1);
	assert_string_equal(r.out.acs_url, "https://sp.example.se/acs"); /* the default ACS */
	assert_int_equal(r.out.acs_binding, IDP_BINDING_POST);
	assert_string_equal(r.out.chosen_loa, IDP_LOA4);
	assert_string_equal(r.out.relay_state, "https://sp.example.se/page?a=1&b=2");
	assert_string_equal(r.out.name_id_format, "urn:oasis:names:tc:SAML:2.0:nameid-format:transient");
	assert_int_equal(r.out.received_binding, IDP_BINDING_REDIRECT);
	assert_int_equal(r.out.issue_instant, NOW);
	assert_false(r.out.force_authn);
	assert_false(r.out.is_sigservice);
	assert_false(r.out.has_sign_message);
	assert_ptr_equal(r.out.sp, SPS[0]);
	done(&r);
}

static void test_post_ok(void **state)
{
	struct idp_intake_params p = params();
	struct result r;
	post(&p, &(struct rq){ .attrs = "ForceAuthn=\"true\" AssertionConsumerServiceURL=\"https://sp.example.se/acs2\" "
					"ProtocolBinding=\"" POST_BINDING "\" AttributeConsumingServiceIndex=\"3\"",
			       .body = "<samlp:NameIDPolicy Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:persistent\"/>"
				       "<samlp:RequestedAuthnContext Comparison=\"exact\">"
				       "<saml:AuthnContextClassRef>http://id.elegnamnden.se/loa/1.0/loa3</saml:AuthnContextClassRef>"
				       "<saml:AuthnContextClassRef>" IDP_LOA4 "</saml:AuthnContextClassRef>"
				       "</samlp:RequestedAuthnContext>"
				       "<samlp:Scoping><samlp:RequesterID>https://requestor.example.se</samlp:RequesterID></samlp:Scoping>" },
	     K_SP, &r);
	ASSERT_OK(&r);
	assert_string_equal(r.out.acs_url, "https://sp.example.se/acs2");
	assert_string_equal(r.out.relay_state, "rs-post");
	assert_true(r.out.force_authn);
	assert_int_equal(r.out.n_requested_loa, 2);
	assert_string_equal(r.out.chosen_loa, IDP_LOA4);
	assert_string_equal(r.out.name_id_format, "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent");
	assert_int_equal(r.out.attr_consuming_index, 3);
	assert_int_equal(r.out.n_requester_ids, 1);
	assert_string_equal(r.out.requester_ids[0], "https://requestor.example.se");
	assert_int_equal(r.out.received_binding, IDP_BINDING_POST);
	done(&r);
}

static void test_acs_index_and_hok(void **state)
{
	struct idp_intake_params p = params();
	struct result r;
	post(&p, &(struct rq){ .attrs = "AssertionConsumerServiceIndex=\"1\"" }, K_SP, &r);
	ASSERT_OK(&r);
	assert_string_equal(r.out.acs_url, "https://sp.example.se/acs2");
	done(&r);
	/* an index whose binding is not HTTP-POST */
	post(&p, &(struct rq){ .attrs = "AssertionConsumerServiceIndex=\"2\"" }, K_SP, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "AssertionConsumerServiceIndex 2");
	/* an index that does not exist */
	post(&p, &(struct rq){ .attrs = "AssertionConsumerServiceIndex=\"9\"" }, K_SP, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "AssertionConsumerServiceIndex 9");

	/* holder-of-key endpoint: the HoK ACS by default; never a plain one */
	char id[64];
	char *x = rq_xml(&(struct rq){ .dest = EP_HOK }, EP_HOK, id);
	char *s = signed_xml(x, id, K_SP, xmlSecTransformRsaSha256Id), *b = b64s(s);
	run_full(&p, IDP_BINDING_POST, b, NULL, EP_HOK, true, &r);
	ASSERT_OK(&r);
	assert_string_equal(r.out.acs_url, "https://sp.example.se/hok-acs");
	assert_true(r.out.hok);
	done(&r);
	free(x), free(s), free(b);
	x = rq_xml(&(struct rq){ .dest = EP_HOK, .attrs = "AssertionConsumerServiceURL=\"https://sp.example.se/acs\"" },
		   EP_HOK, id);
	s = signed_xml(x, id, K_SP, xmlSecTransformRsaSha256Id), b = b64s(s);
	run_full(&p, IDP_BINDING_POST, b, NULL, EP_HOK, true, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "holder-of-key");
	free(x), free(s), free(b);
}

static void test_unsigned_allowed_by_policy(void **state)
{
	struct idp_intake_params p = params();
	p.require_signed = false;
	struct result r;
	redirect(&p, &(struct rq){ .issuer = SP_UNSIGNED }, NULL, &r);
	ASSERT_OK(&r);
	done(&r);
	/* a signature that is present is verified even when not required */
	redirect(&p, &(struct rq){ .issuer = SP_UNSIGNED }, K_EVIL, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_AUTH, "signature");
	/* the SP's AuthnRequestsSigned still applies */
	redirect(&p, &(struct rq){ 0 }, NULL, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_AUTH, "its metadata says it signs");
	/* and our policy when on */
	p.require_signed = true;
	post(&p, &(struct rq){ .issuer = SP_UNSIGNED }, NULL, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_AUTH, "requires signed requests");
}

/* ---- untrusted: a plain error page ------------------------------------------------------------ */

static void test_unknown_sp(void **state)
{
	struct idp_intake_params p = params();
	struct result r;
	redirect(&p, &(struct rq){ .issuer = "https://unknown.example.se/sp" }, K_SP, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_AUTH, "not registered");
	post(&p, &(struct rq){ .issuer = "https://unknown.example.se/sp" }, K_SP, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_AUTH, "not registered");
}

static void test_bad_signature(void **state)
{
	struct idp_intake_params p = params();
	struct result r;
	redirect(&p, &(struct rq){ 0 }, K_EVIL, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_AUTH, "signature");
	post(&p, &(struct rq){ 0 }, K_EVIL, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_AUTH, "signature");
	/* a Redirect query whose signed octets were changed after signing (RelayState) */
	char id[64];
	char *x = rq_xml(&(struct rq){ 0 }, EP_REDIRECT, id);
	char *q = redirect_query(x, "abc", K_SP, RSA_SHA256, EVP_sha256());
	char *rs = strstr(q, "RelayState=abc");
	assert_non_null(rs);
	rs[strlen("RelayState=ab")] = 'd';
	run_full(&p, IDP_BINDING_REDIRECT, q, NULL, EP_REDIRECT, false, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_AUTH, "signature");
	free(q);
	free(x);
}

static void test_sha1_refused(void **state)
{
	struct idp_intake_params p = params();
	struct result r;
	char id[64];
	char *x = rq_xml(&(struct rq){ 0 }, EP_REDIRECT, id);
	char *q = redirect_query(x, NULL, K_SP, RSA_SHA1, EVP_sha1());
	run_full(&p, IDP_BINDING_REDIRECT, q, NULL, EP_REDIRECT, false, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "SHA-1");
	free(q);
	free(x);
	x = rq_xml(&(struct rq){ 0 }, EP_POST, id);
	char *s = signed_xml(x, id, K_SP, xmlSecTransformRsaSha1Id), *b = b64s(s);
	run_full(&p, IDP_BINDING_POST, b, NULL, EP_POST, false, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "SHA-1");
	free(x), free(s), free(b);
}

static void test_unsigned_when_required(void **state)
{
	struct idp_intake_params p = params();
	struct result r;
	redirect(&p, &(struct rq){ 0 }, NULL, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_AUTH, "not signed");
	post(&p, &(struct rq){ 0 }, NULL, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_AUTH, "not signed");
	/* a signature service must sign even when our policy does not require it */
	p.require_signed = false;
	post(&p, &(struct rq){ .issuer = SP_SIG }, NULL, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_AUTH, "not signed");
}

static void test_destination(void **state)
{
	struct idp_intake_params p = params();
	struct result r;
	post(&p, &(struct rq){ .dest = "https://idp.efos.se/idp/sso/post/" }, K_SP, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "was meant for");
	post(&p, &(struct rq){ .dest = "https://evil.example.se/sso" }, K_SP, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "was meant for");
	post(&p, &(struct rq){ .dest = "" }, K_SP, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "no Destination");
	/* a Redirect request presented at the POST endpoint */
	redirect(&p, &(struct rq){ .dest = EP_POST }, K_SP, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "was meant for");
}

static void test_time(void **state)
{
	struct idp_intake_params p = params();
	struct result r;
	post(&p, &(struct rq){ .ii_offset = -(180 + 60 + 1) }, K_SP, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "old");
	redirect(&p, &(struct rq){ .ii_offset = 61 }, K_SP, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "future");
	/* within the skew either way: accepted (the replay stand-in sees a different expiry) */
	p.replay_arg = (void *)1;
	redirect(&p, &(struct rq){ .ii_offset = 60 }, K_SP, &r);
	ASSERT_OK(&r);
	done(&r);
	post(&p, &(struct rq){ .ii_offset = -(180 + 60) }, K_SP, &r);
	ASSERT_OK(&r);
	done(&r);
	/* not UTC */
	char id[64];
	char *x = rq_xml(&(struct rq){ 0 }, EP_POST, id);
	x = realloc(x, strlen(x) + 8);
	char *z = strstr(x, "Z\"");
	assert_non_null(z);
	memmove(z + 6, z + 1, strlen(z + 1) + 1);
	memcpy(z, "+01:00", 6);
	char *s = signed_xml(x, id, K_SP, xmlSecTransformRsaSha256Id), *b = b64s(s);
	run_full(&p, IDP_BINDING_POST, b, NULL, EP_POST, false, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "UTC");
	free(x), free(s), free(b);
}

static void test_replay(void **state)
{
	struct idp_intake_params p = params();
	struct result r;
	redirect(&p, &(struct rq){ .id = "_replayed1" }, K_SP, &r);
	ASSERT_OK(&r);
	done(&r);
	redirect(&p, &(struct rq){ .id = "_replayed1" }, K_SP, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "already used");
	post(&p, &(struct rq){ .id = "_replayed1" }, K_SP, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "already used");
	/* a forged request does not burn the ID: it fails before the cache is touched */
	post(&p, &(struct rq){ .id = "_notburnt" }, K_EVIL, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_AUTH, "signature");
	post(&p, &(struct rq){ .id = "_notburnt" }, K_SP, &r);
	ASSERT_OK(&r);
	done(&r);
	/* the cache down: 503, never accepted unchecked */
	p.replay_fn = down_replay;
	post(&p, &(struct rq){ 0 }, K_SP, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_UNAVAILABLE, "cannot check");
	p.replay_fn = NULL;
	post(&p, &(struct rq){ 0 }, K_SP, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INTERNAL, "replay");
}

static void test_acs(void **state)
{
	struct idp_intake_params p = params();
	struct result r;
	post(&p, &(struct rq){ .attrs = "AssertionConsumerServiceURL=\"https://evil.example.se/acs\"" }, K_SP, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "not a HTTP-POST");
	/* no canonicalisation: a trailing slash or a different case is another URL */
	post(&p, &(struct rq){ .attrs = "AssertionConsumerServiceURL=\"https://sp.example.se/acs/\"" }, K_SP, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "AssertionConsumerServiceURL");
	post(&p, &(struct rq){ .attrs = "AssertionConsumerServiceURL=\"https://SP.example.se/acs\"" }, K_SP, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "AssertionConsumerServiceURL");
	/* the Artifact endpoint is in metadata but is not an HTTP-POST ACS */
	post(&p, &(struct rq){ .attrs = "AssertionConsumerServiceURL=\"https://sp.example.se/artifact\"" }, K_SP, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "AssertionConsumerServiceURL");
	post(&p, &(struct rq){ .attrs = "AssertionConsumerServiceURL=\"https://sp.example.se/acs\" "
					"AssertionConsumerServiceIndex=\"0\"" }, K_SP, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "both");
	post(&p, &(struct rq){ .attrs = "ProtocolBinding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact\"" }, K_SP, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "only sent with HTTP-POST");
}

static void test_malformed(void **state)
{
	struct idp_intake_params p = params();
	struct result r;
	run_full(&p, IDP_BINDING_POST, "not base64!", NULL, EP_POST, false, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "base64");
	char *b = b64s("<samlp:Response xmlns:samlp=\"" NS_SAMLP "\" ID=\"_x\" Version=\"2.0\" "
		       "IssueInstant=\"2026-01-01T00:00:00Z\"/>");
	run_full(&p, IDP_BINDING_POST, b, NULL, EP_POST, false, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "not a samlp:AuthnRequest");
	free(b);
	post(&p, &(struct rq){ .attrs = "Bogus=\"1\"" }, K_SP, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "unknown attribute");
	/* elements out of schema order, repeated */
	post(&p, &(struct rq){ .body = "<samlp:RequestedAuthnContext><saml:AuthnContextClassRef>" IDP_LOA4
				       "</saml:AuthnContextClassRef></samlp:RequestedAuthnContext><samlp:NameIDPolicy/>" },
	     K_SP, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "misplaced");
	post(&p, &(struct rq){ .body = "<saml:Issuer>" SP1 "</saml:Issuer>" }, K_SP, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "misplaced");
	/* Version */
	char id[64];
	char *x = rq_xml(&(struct rq){ 0 }, EP_POST, id);
	char *v = strstr(x, "Version=\"2.0\"");
	v[10] = '1';
	char *s = signed_xml(x, id, K_SP, xmlSecTransformRsaSha256Id);
	b = b64s(s);
	run_full(&p, IDP_BINDING_POST, b, NULL, EP_POST, false, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "Version 2.0");
	free(x), free(s), free(b);
	/* oversize */
	size_t big = 2u << 20;
	char *huge = malloc(big + 1);
	memset(huge, 'A', big);
	huge[big] = '\0';
	run_full(&p, IDP_BINDING_POST, huge, NULL, EP_POST, false, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_TOOBIG, "larger");
	free(huge);
	/* a comment (comment injection in the Issuer) */
	x = rq_xml(&(struct rq){ .issuer = "https://sp.example.se/sp<!---->.evil" }, EP_POST, id);
	b = b64s(x);
	run_full(&p, IDP_BINDING_POST, b, NULL, EP_POST, false, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "comment");
	free(x), free(b);
}

/* A DOCTYPE is refused at the parser, before the issuer is even looked up. */
static void test_doctype_first(void **state)
{
	struct idp_intake_params p = params();
	struct result r;
	static const char *const docs[] = {
		"<!DOCTYPE samlp:AuthnRequest [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>",
		"<!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]>",
		"<!DOCTYPE samlp:AuthnRequest SYSTEM \"http://evil.example/x.dtd\">",
	};
	for (size_t i = 0; i < 3; i++) {
		char id[64];
		char *x = rq_xml(&(struct rq){ .issuer = "https://unknown.example.se/sp" }, EP_POST, id), *d = NULL;
		assert_true(asprintf(&d, "<?xml version=\"1.0\"?>%s%s", docs[i], x) > 0);
		char *b = b64s(d);
		run_full(&p, IDP_BINDING_POST, b, NULL, EP_POST, false, &r);
		ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "DOCTYPE");
		char *q = redirect_query(d, NULL, NULL, NULL, NULL);
		run_full(&p, IDP_BINDING_REDIRECT, q, NULL, EP_REDIRECT, false, &r);
		ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "DOCTYPE");
		free(q), free(b), free(d), free(x);
	}
}

/* ---- signature wrapping ----------------------------------------------------------------------- */

/* The signed request of SP1, as a document. */
static xmlDocPtr signed_doc(const char *id, const char *attrs)
{
	char idb[64];
	char *x = rq_xml(&(struct rq){ .id = id, .attrs = attrs }, EP_POST, idb);
	xmlDocPtr doc = read_doc(x, id);
	xmlsec_sign_root(doc, id, K_SP, xmlSecTransformRsaSha256Id);
	free(x);
	return doc;
}

/* An attacker's outer AuthnRequest with ID outer_id holding a copy of the signed one in its
 * Extensions; move_sig: the signature moved from the inner copy to the outer root. */
static char *wrapped(const char *outer_id, const char *inner_id, bool move_sig)
{
	xmlDocPtr in = signed_doc(inner_id, NULL);
	char *ox = NULL, ii[32];
	time_t t = NOW;
	strftime(ii, sizeof ii, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	assert_true(asprintf(&ox, "<samlp:AuthnRequest xmlns:samlp=\"" NS_SAMLP "\" xmlns:saml=\"" NS_SAML "\" "
			     "ID=\"%s\" Version=\"2.0\" IssueInstant=\"%s\" Destination=\"" EP_POST "\" ForceAuthn=\"false\">"
			     "<saml:Issuer>" SP1 "</saml:Issuer><samlp:Extensions/></samlp:AuthnRequest>",
			     outer_id, ii) > 0);
	xmlDocPtr out = xmlReadMemory(ox, (int)strlen(ox), NULL, NULL, 0);
	xmlNodePtr oroot = xmlDocGetRootElement(out), ext = xmlLastElementChild(oroot);
	xmlNodePtr copy = xmlDocCopyNode(xmlDocGetRootElement(in), out, 1);
	xmlAddChild(ext, copy);
	if (move_sig) {
		xmlNodePtr sig = xmlFirstElementChild(copy);
		while (sig && strcmp((const char *)sig->name, "Signature") != 0)
			sig = xmlNextElementSibling(sig);
		assert_non_null(sig);
		xmlUnlinkNode(sig);
		xmlAddNextSibling(xmlFirstElementChild(oroot), sig);
	}
	char *s = dump_root(out);
	xmlFreeDoc(out);
	xmlFreeDoc(in);
	free(ox);
	return s;
}

static void test_signature_wrapping(void **state)
{
	struct idp_intake_params p = params();
	struct result r;
	/* 1. the signed request inside the Extensions of an unsigned one */
	char *s = wrapped("_xswouter1", "_xswinner1", false), *b = b64s(s);
	run_full(&p, IDP_BINDING_POST, b, NULL, EP_POST, false, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "ds:Signature inside");
	free(s), free(b);
	/* 2. the signature moved to the outer root; it still references the inner element */
	s = wrapped("_xswouter2", "_xswinner2", true), b = b64s(s);
	run_full(&p, IDP_BINDING_POST, b, NULL, EP_POST, false, &r);
	if (r.rc != -1)
		fail_msg("wrapping 2 accepted");
	assert_null(r.out.id);
	free(s), free(b);
	/* 3. the same, with the outer root taking the inner's ID (duplicate IDs) */
	s = wrapped("_xsw3", "_xsw3", true), b = b64s(s);
	run_full(&p, IDP_BINDING_POST, b, NULL, EP_POST, false, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "");
	assert_non_null(strstr(r.e.msg, "duplicate") ? r.e.msg : strstr(r.e.msg, "ID"));
	free(s), free(b);
	/* 4. a signed request altered after signing (ForceAuthn flipped) */
	xmlDocPtr d = signed_doc("_xsw4", "ForceAuthn=\"false\"");
	xmlSetProp(xmlDocGetRootElement(d), BAD_CAST "ForceAuthn", BAD_CAST "true");
	s = dump_root(d), b = b64s(s);
	run_full(&p, IDP_BINDING_POST, b, NULL, EP_POST, false, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_AUTH, "signature");
	xmlFreeDoc(d);
	free(s), free(b);
	/* 5. the signature's key in KeyInfo is never used: signed by an attacker with their key
	 * embedded */
	post(&p, &(struct rq){ 0 }, K_EVIL, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_AUTH, "signature");
	/* 6. an enveloped signature inside a Redirect message (signed query or not) */
	d = signed_doc("_xsw6", NULL);
	s = dump_root(d);
	char *q = redirect_query(s, NULL, K_SP, RSA_SHA256, EVP_sha256());
	run_full(&p, IDP_BINDING_REDIRECT, q, NULL, EP_POST, false, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "must not contain a ds:Signature");
	free(q);
	q = redirect_query(s, NULL, NULL, NULL, NULL);
	run_full(&p, IDP_BINDING_REDIRECT, q, NULL, EP_POST, false, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "must not contain a ds:Signature");
	free(q), free(s);
	xmlFreeDoc(d);
}

/* ---- answerable: a SAML error Response after the user's OK ------------------------------------ */

static void test_loa(void **state)
{
	struct idp_intake_params p = params();
	struct result r;
	post(&p, &(struct rq){ .body = "<samlp:RequestedAuthnContext><saml:AuthnContextClassRef>"
				       "http://id.elegnamnden.se/loa/1.0/loa3</saml:AuthnContextClassRef>"
				       "</samlp:RequestedAuthnContext>" }, K_SP, &r);
	ASSERT_ANSWERABLE(&r, IDP_STATUS_REQUESTER, IDP_STATUS_NO_AUTHN_CONTEXT);
	assert_string_equal(r.out.acs_url, "https://sp.example.se/acs");
	assert_string_equal(r.out.relay_state, "rs-post");
	done(&r);
	post(&p, &(struct rq){ .body = "<samlp:RequestedAuthnContext Comparison=\"minimum\"><saml:AuthnContextClassRef>"
				       IDP_LOA4 "</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>" }, K_SP, &r);
	ASSERT_ANSWERABLE(&r, IDP_STATUS_REQUESTER, IDP_STATUS_NO_AUTHN_CONTEXT);
	assert_non_null(strstr(r.st.message, "minimum"));
	done(&r);
	redirect(&p, &(struct rq){ .body = "<samlp:RequestedAuthnContext Comparison=\"better\"><saml:AuthnContextClassRef>"
					   IDP_LOA4 "</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>" }, K_SP, &r);
	ASSERT_ANSWERABLE(&r, IDP_STATUS_REQUESTER, IDP_STATUS_NO_AUTHN_CONTEXT);
	done(&r);
	post(&p, &(struct rq){ .body = "<samlp:RequestedAuthnContext><saml:AuthnContextDeclRef>urn:x"
				       "</saml:AuthnContextDeclRef></samlp:RequestedAuthnContext>" }, K_SP, &r);
	ASSERT_ANSWERABLE(&r, IDP_STATUS_REQUESTER, IDP_STATUS_REQUEST_UNSUPPORTED);
	done(&r);
}

static void test_nameid_policy(void **state)
{
	struct idp_intake_params p = params();
	struct result r;
	post(&p, &(struct rq){ .body = "<samlp:NameIDPolicy Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress\"/>" },
	     K_SP, &r);
	ASSERT_ANSWERABLE(&r, IDP_STATUS_REQUESTER, IDP_STATUS_INVALID_NAMEID_POLICY);
	done(&r);
	post(&p, &(struct rq){ .body = "<samlp:NameIDPolicy SPNameQualifier=\"https://other.example.se\"/>" }, K_SP, &r);
	ASSERT_ANSWERABLE(&r, IDP_STATUS_REQUESTER, IDP_STATUS_INVALID_NAMEID_POLICY);
	done(&r);
	post(&p, &(struct rq){ .body = "<samlp:NameIDPolicy Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified\" "
				       "AllowCreate=\"false\"/>" }, K_SP, &r);
	ASSERT_OK(&r);
	assert_null(r.out.name_id_format);
	assert_false(r.out.allow_create);
	done(&r);
}

static void test_policy_answers(void **state)
{
	struct idp_intake_params p = params();
	struct result r;
	/* no encryption key in metadata: we always encrypt */
	post(&p, &(struct rq){ .issuer = SP_NOENC }, K_SP, &r);
	ASSERT_ANSWERABLE(&r, IDP_STATUS_REQUESTER, IDP_STATUS_REQUEST_DENIED);
	assert_string_equal(r.out.acs_url, "https://noenc.example.se/acs");
	done(&r);
	/* no service contract we deliver under */
	post(&p, &(struct rq){ .issuer = SP_NOCONTRACT }, K_SP, &r);
	ASSERT_ANSWERABLE(&r, IDP_STATUS_REQUESTER, IDP_STATUS_REQUEST_DENIED);
	assert_non_null(strstr(r.st.message, "contract"));
	done(&r);
	/* ... and with that contract but no service entity category in common */
	static const char *const ours[] = { "http://id.elegnamnden.se/ec/1.0/loa4-pnr",
					    "http://id.swedenconnect.se/contract/sc/sweden-connect", NULL };
	p.entity_categories = ours;
	post(&p, &(struct rq){ .issuer = SP_NOCONTRACT }, K_SP, &r);
	ASSERT_ANSWERABLE(&r, IDP_STATUS_REQUESTER, IDP_STATUS_REQUEST_DENIED);
	assert_non_null(strstr(r.st.message, "entity categories"));
	done(&r);
	p = params();
	/* IsPassive with ForceAuthn: a card operation needs the user */
	post(&p, &(struct rq){ .attrs = "IsPassive=\"true\" ForceAuthn=\"true\"" }, K_SP, &r);
	ASSERT_ANSWERABLE(&r, IDP_STATUS_REQUESTER, IDP_STATUS_NO_PASSIVE);
	done(&r);
	/* IsPassive alone: the SSO flow decides (session or NoPassive) */
	post(&p, &(struct rq){ .attrs = "IsPassive=\"true\"" }, K_SP, &r);
	ASSERT_OK(&r);
	assert_true(r.out.is_passive);
	done(&r);
	/* a Subject in the request */
	post(&p, &(struct rq){ .body = "<saml:Subject><saml:NameID>x</saml:NameID></saml:Subject>" }, K_SP, &r);
	ASSERT_ANSWERABLE(&r, IDP_STATUS_REQUESTER, IDP_STATUS_REQUEST_UNSUPPORTED);
	done(&r);
}

/* ---- Swedish extensions ----------------------------------------------------------------------- */

#define SIGSVC_ACS "https://sign.example.se/acs"

static void test_sign_message_plain(void **state)
{
	struct idp_intake_params p = params();
	struct result r;
	const char *text = "Jag skriver under avtal nr 4711 – **Åsa**";
	char *mb = b64s(text), *body = NULL;
	assert_true(asprintf(&body, "<samlp:Extensions><csig:SignMessage xmlns:csig=\"" NS_CSIG "\" MustShow=\"true\" "
			     "DisplayEntity=\"" IDP_ID "\" MimeType=\"text/markdown\"><csig:Message>%s</csig:Message>"
			     "</csig:SignMessage></samlp:Extensions>", mb) > 0);
	post(&p, &(struct rq){ .issuer = SP_SIG, .attrs = "ForceAuthn=\"true\"", .body = body }, K_SP, &r);
	ASSERT_OK(&r);
	assert_true(r.out.is_sigservice);
	assert_true(r.out.has_sign_message);
	assert_true(r.out.sign_message_must_show);
	assert_false(r.out.sign_message_encrypted);
	assert_int_equal(r.out.sign_message_mime, IDP_SIGMSG_MARKDOWN);
	assert_string_equal(r.out.sign_message, text);
	assert_int_equal(r.out.sign_message_len, strlen(text));
	assert_string_equal(r.out.sign_message_display_entity, IDP_ID);
	assert_string_equal(r.out.acs_url, SIGSVC_ACS);
	done(&r);
	/* from an SP that is not a signature service */
	post(&p, &(struct rq){ .body = body }, K_SP, &r);
	ASSERT_ANSWERABLE(&r, IDP_STATUS_REQUESTER, IDP_STATUS_REQUEST_UNSUPPORTED);
	assert_non_null(strstr(r.st.message, "signature service"));
	done(&r);
	free(body);
	/* meant for another IdP; an unknown MIME type; not UTF-8; IsPassive with a sign message */
	struct {
		const char *attrs, *msg, *root_attrs, *second;
	} bad[] = {
		{ "DisplayEntity=\"https://other-idp.example.se\"", NULL, NULL, IDP_STATUS_REQUEST_UNSUPPORTED },
		{ "MimeType=\"application/pdf\"", NULL, NULL, IDP_STATUS_REQUEST_UNSUPPORTED },
		{ "", "\xff\xfe bad", NULL, IDP_STATUS_REQUEST_UNSUPPORTED },
		{ "", NULL, "IsPassive=\"true\"", IDP_STATUS_NO_PASSIVE },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *m = b64s(bad[i].msg ? bad[i].msg : "hej");
		assert_true(asprintf(&body, "<samlp:Extensions><csig:SignMessage xmlns:csig=\"" NS_CSIG "\" %s>"
				     "<csig:Message>%s</csig:Message></csig:SignMessage></samlp:Extensions>",
				     bad[i].attrs, m) > 0);
		post(&p, &(struct rq){ .issuer = SP_SIG, .attrs = bad[i].root_attrs, .body = body }, K_SP, &r);
		ASSERT_ANSWERABLE(&r, IDP_STATUS_REQUESTER, bad[i].second);
		done(&r);
		free(body), free(m);
	}
	/* oversize */
	p.max_sign_message_bytes = 16;
	{
		char *m = b64s("this message is longer than sixteen bytes");
		assert_true(asprintf(&body, "<samlp:Extensions><csig:SignMessage xmlns:csig=\"" NS_CSIG "\">"
				     "<csig:Message>%s</csig:Message></csig:SignMessage></samlp:Extensions>", m) > 0);
		post(&p, &(struct rq){ .issuer = SP_SIG, .body = body }, K_SP, &r);
		ASSERT_ANSWERABLE(&r, IDP_STATUS_REQUESTER, IDP_STATUS_REQUEST_UNSUPPORTED);
		done(&r);
		free(body), free(m);
	}
	free(mb);
}

/* csig:EncryptedMessage: AES (GCM or CBC) content, the key RSA-OAEP to pub. */
static char *encrypted_sign_message(EVP_PKEY *pub, bool gcm, const char *text, const char *display_entity)
{
	char *mb = b64s(text), *pt = NULL;
	assert_true(asprintf(&pt, "<csig:Message xmlns:csig=\"" NS_CSIG "\">%s</csig:Message>", mb) > 0);
	unsigned char key[32], iv[16], ct[4096], tag[16];
	RAND_bytes(key, sizeof key);
	RAND_bytes(iv, sizeof iv);
	size_t ivlen = gcm ? 12 : 16, ptlen = strlen(pt);
	/* XML Encryption padding for CBC: to a block boundary, the last byte the count */
	unsigned char padded[4096];
	memcpy(padded, pt, ptlen);
	if (!gcm) {
		size_t pad = 16 - ptlen % 16;
		for (size_t i = 0; i < pad; i++)
			padded[ptlen + i] = (unsigned char)(i + 1 == pad ? pad : 0xAB);
		ptlen += pad;
	}
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n1 = 0, n2 = 0;
	assert_int_equal(EVP_EncryptInit_ex(c, gcm ? EVP_aes_256_gcm() : EVP_aes_256_cbc(), NULL, NULL, NULL), 1);
	if (gcm)
		EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL);
	assert_int_equal(EVP_EncryptInit_ex(c, NULL, NULL, key, iv), 1);
	EVP_CIPHER_CTX_set_padding(c, 0);
	assert_int_equal(EVP_EncryptUpdate(c, ct, &n1, padded, (int)ptlen), 1);
	assert_int_equal(EVP_EncryptFinal_ex(c, ct + n1, &n2), 1);
	if (gcm)
		EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag);
	EVP_CIPHER_CTX_free(c);
	unsigned char blob[4200];
	size_t bl = 0;
	memcpy(blob, iv, ivlen), bl = ivlen;
	memcpy(blob + bl, ct, (size_t)(n1 + n2)), bl += (size_t)(n1 + n2);
	if (gcm)
		memcpy(blob + bl, tag, 16), bl += 16;
	/* key transport: RSA-OAEP, SHA-1 digest and MGF1 (rsa-oaep-mgf1p defaults) */
	EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new(pub, NULL);
	unsigned char wk[512];
	size_t wl = sizeof wk;
	assert_true(EVP_PKEY_encrypt_init(kc) > 0 && EVP_PKEY_CTX_set_rsa_padding(kc, RSA_PKCS1_OAEP_PADDING) > 0 &&
		    EVP_PKEY_CTX_set_rsa_oaep_md(kc, EVP_sha1()) > 0 && EVP_PKEY_encrypt(kc, wk, &wl, key, sizeof key) > 0);
	EVP_PKEY_CTX_free(kc);
	char *ctb = b64(blob, bl), *wkb = b64(wk, wl), *out = NULL;
	assert_true(asprintf(&out,
			     "<samlp:Extensions><csig:SignMessage xmlns:csig=\"" NS_CSIG "\" MustShow=\"true\" %s%s%s>"
			     "<csig:EncryptedMessage><xenc:EncryptedData xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\" "
			     "Type=\"http://www.w3.org/2001/04/xmlenc#Element\">"
			     "<xenc:EncryptionMethod Algorithm=\"%s\"/>"
			     "<ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><xenc:EncryptedKey Recipient=\"" IDP_ID "\">"
			     "<xenc:EncryptionMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p\">"
			     "<ds:DigestMethod Algorithm=\"http://www.w3.org/2000/09/xmldsig#sha1\"/></xenc:EncryptionMethod>"
			     "<xenc:CipherData><xenc:CipherValue>%s</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey>"
			     "</ds:KeyInfo><xenc:CipherData><xenc:CipherValue>%s</xenc:CipherValue></xenc:CipherData>"
			     "</xenc:EncryptedData></csig:EncryptedMessage></csig:SignMessage></samlp:Extensions>",
			     display_entity ? "DisplayEntity=\"" : "", display_entity ? display_entity : "",
			     display_entity ? "\"" : "",
			     gcm ? "http://www.w3.org/2009/xmlenc11#aes256-gcm" : "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
			     wkb, ctb) > 0);
	free(mb), free(pt), free(ctb), free(wkb);
	return out;
}

static void test_sign_message_encrypted(void **state)
{
	struct idp_intake_params p = params();
	struct result r;
	const char *text = "Jag godkänner överföringen av 100 kr.";
	/* AES-256-GCM, the key decrypted by the IdP encryption key in the HSM */
	char *body = encrypted_sign_message(hsm_key_public(HK_ENC), true, text, IDP_ID);
	post(&p, &(struct rq){ .issuer = SP_SIG, .attrs = "ForceAuthn=\"true\"", .body = body }, K_SP, &r);
	ASSERT_OK(&r);
	assert_true(r.out.has_sign_message);
	assert_true(r.out.sign_message_encrypted);
	assert_int_equal(r.out.sign_message_mime, IDP_SIGMSG_TEXT);
	assert_string_equal(r.out.sign_message, text);
	done(&r);
	free(body);
	/* AES-256-CBC with XML Encryption padding (software key stand-in) */
	body = encrypted_sign_message(K_IDP_SW, false, text, IDP_ID);
	struct idp_intake_params sw = p;
	sw.oaep_fn = sw_oaep;
	post(&sw, &(struct rq){ .issuer = SP_SIG, .body = body }, K_SP, &r);
	ASSERT_OK(&r);
	assert_string_equal(r.out.sign_message, text);
	done(&r);
	/* encrypted to a key we do not have */
	post(&p, &(struct rq){ .issuer = SP_SIG, .body = body }, K_SP, &r);
	ASSERT_ANSWERABLE(&r, IDP_STATUS_REQUESTER, IDP_STATUS_REQUEST_UNSUPPORTED);
	assert_non_null(strstr(r.st.message, "decrypt"));
	done(&r);
	/* no decryption configured */
	sw.oaep_fn = NULL;
	post(&sw, &(struct rq){ .issuer = SP_SIG, .body = body }, K_SP, &r);
	ASSERT_ANSWERABLE(&r, IDP_STATUS_REQUESTER, IDP_STATUS_REQUEST_UNSUPPORTED);
	done(&r);
	free(body);
	/* encrypted without DisplayEntity */
	body = encrypted_sign_message(hsm_key_public(HK_ENC), true, text, NULL);
	post(&p, &(struct rq){ .issuer = SP_SIG, .body = body }, K_SP, &r);
	ASSERT_ANSWERABLE(&r, IDP_STATUS_REQUESTER, IDP_STATUS_REQUEST_UNSUPPORTED);
	assert_non_null(strstr(r.st.message, "DisplayEntity"));
	done(&r);
	free(body);
}

#define SAD(requester, docs, version)                                                                  \
	"<sap:SADRequest xmlns:sap=\"http://id.elegnamnden.se/csig/1.1/sap/ns\" ID=\"_sad1\">"            \
	"<sap:RequesterID>" requester "</sap:RequesterID><sap:SignRequestID>f6e7d061a23293b0053dc7b038a04dad"  \
	"</sap:SignRequestID><sap:DocCount>" docs "</sap:DocCount>" version "</sap:SADRequest>"

static void test_sad_request(void **state)
{
	struct idp_intake_params p = params();
	struct result r;
	post(&p, &(struct rq){ .issuer = SP_SIG, .attrs = "ForceAuthn=\"true\"",
			       .body = "<samlp:Extensions>" SAD(SP_SIG, "3", "<sap:RequestedVersion>1.0</sap:RequestedVersion>")
				       "</samlp:Extensions>" }, K_SP, &r);
	ASSERT_OK(&r);
	assert_true(r.out.sad_requested);
	assert_string_equal(r.out.sad_request_id, "_sad1");
	assert_string_equal(r.out.sad_requester_id, SP_SIG);
	assert_string_equal(r.out.sad_sign_request_id, "f6e7d061a23293b0053dc7b038a04dad");
	assert_int_equal(r.out.sad_doc_count, 3);
	assert_string_equal(r.out.sad_version, "1.0");
	done(&r);
	/* from a non-sigservice SP; RequesterID not the issuer; DocCount 0; an unknown version */
	const char *bad[][2] = {
		{ SP1, "<samlp:Extensions>" SAD(SP1, "1", "") "</samlp:Extensions>" },
		{ SP_SIG, "<samlp:Extensions>" SAD("https://other.example.se", "1", "") "</samlp:Extensions>" },
		{ SP_SIG, "<samlp:Extensions>" SAD(SP_SIG, "0", "") "</samlp:Extensions>" },
		{ SP_SIG, "<samlp:Extensions>" SAD(SP_SIG, "1", "<sap:RequestedVersion>2.0</sap:RequestedVersion>")
			  "</samlp:Extensions>" },
	};
	for (size_t i = 0; i < 4; i++) {
		post(&p, &(struct rq){ .issuer = bad[i][0], .body = bad[i][1] }, K_SP, &r);
		ASSERT_ANSWERABLE(&r, IDP_STATUS_REQUESTER, IDP_STATUS_REQUEST_UNSUPPORTED);
		done(&r);
	}
	/* we do not declare scal2: the SADRequest is ignored */
	static const char *const no_scal2[] = { "http://id.elegnamnden.se/ec/1.0/loa4-pnr",
						"http://id.swedenconnect.se/contract/sc/prepaid-auth-2021", NULL };
	p.entity_categories = no_scal2;
	post(&p, &(struct rq){ .issuer = SP_SIG, .body = "<samlp:Extensions>" SAD(SP_SIG, "1", "") "</samlp:Extensions>" },
	     K_SP, &r);
	/* the SP declares scal2 and we do not: it does not match us (spec §4.1) */
	ASSERT_ANSWERABLE(&r, IDP_STATUS_REQUESTER, IDP_STATUS_REQUEST_DENIED);
	done(&r);
}

static void test_principal_selection(void **state)
{
	struct idp_intake_params p = params();
	struct result r;
	post(&p, &(struct rq){ .issuer = SP_SIG,
			       .body = "<samlp:Extensions><psc:PrincipalSelection "
				       "xmlns:psc=\"http://id.swedenconnect.se/authn/1.0/principal-selection/ns\">"
				       "<psc:MatchValue Name=\"urn:oid:1.2.752.29.4.13\">197802031877</psc:MatchValue>"
				       "<psc:MatchValue Name=\"urn:oid:1.2.752.201.3.1\" "
				       "NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-format:uri\">vlindman@5562265719</psc:MatchValue>"
				       "</psc:PrincipalSelection></samlp:Extensions>" }, K_SP, &r);
	ASSERT_OK(&r);
	assert_int_equal(r.out.n_principal, 2);
	assert_string_equal(r.out.principal_attr_names[0], "urn:oid:1.2.752.29.4.13");
	assert_string_equal(r.out.principal_attr_values[0], "197802031877");
	assert_string_equal(r.out.principal_attr_names[1], "urn:oid:1.2.752.201.3.1");
	assert_string_equal(r.out.principal_attr_values[1], "vlindman@5562265719");
	done(&r);
	post(&p, &(struct rq){ .body = "<samlp:Extensions><psc:PrincipalSelection "
				       "xmlns:psc=\"http://id.swedenconnect.se/authn/1.0/principal-selection/ns\">"
				       "<psc:MatchValue>197802031877</psc:MatchValue></psc:PrincipalSelection></samlp:Extensions>" },
	     K_SP, &r);
	ASSERT_ANSWERABLE(&r, IDP_STATUS_REQUESTER, IDP_STATUS_REQUEST_UNSUPPORTED);
	done(&r);
}

/* ---- the replay cache in PostgreSQL ----------------------------------------------------------- */

static void test_replay_db(void **state)
{
	const char *pg = getenv("EFOS_TEST_PG"), *pg_owner = getenv("EFOS_TEST_PG_OWNER"), *top = getenv("EFOS_TOP");
	if (pg == NULL || pg_owner == NULL)
		fail_msg("EFOS_TEST_PG* not set: source var/test/env");
	char path[512];
	snprintf(path, sizeof path, "%s/db", top ? top : ".");
	efos_err e = { 0 };
	PGconn *c = NULL;
	int applied = 0;
	if (db_connect(pg_owner, NULL, 5, &c, &e) < 0 || db_migrate(c, path, &applied, &e) < 0)
		fail_msg("migrations: %s", e.msg);
	PQfinish(c);
	struct db_pool *pool = NULL;
	if (db_pool_create(pg, NULL, 2, 5, &pool, &e) < 0)
		fail_msg("pool: %s", e.msg);
	char id[64];
	snprintf(id, sizeof id, "_db%ld_%d", (long)time(NULL), getpid());
	time_t exp = time(NULL) + 240;
	assert_int_equal(idp_replay_pool_fn(pool, SP1, id, exp, &e), 0);
	assert_int_equal(idp_replay_pool_fn(pool, SP1, id, exp, &e), -1);
	assert_int_equal(e.code, EFOS_E_CONFLICT);
	/* another SP may use the same ID */
	assert_int_equal(idp_replay_pool_fn(pool, SP_SIG, id, exp, &e), 0);
	/* an expired row is replaced, and purged */
	PGconn *pc = NULL;
	assert_int_equal(db_acquire(pool, &pc, &e), 0);
	char id2[80];
	snprintf(id2, sizeof id2, "%s_old", id);
	assert_int_equal(idp_replay_check_and_store(pc, SP1, id2, time(NULL) - 10, &e), 0);
	assert_int_equal(idp_replay_check_and_store(pc, SP1, id2, time(NULL) + 100, &e), 0);
	assert_int_equal(idp_replay_check_and_store(pc, SP1, id2, time(NULL) + 100, &e), -1);
	assert_int_equal(idp_replay_check_and_store(pc, SP1, "", exp, &e), -1);
	assert_int_equal(e.code, EFOS_E_INVALID);
	snprintf(id2, sizeof id2, "%s_gone", id);
	assert_int_equal(idp_replay_check_and_store(pc, SP1, id2, time(NULL) - 10, &e), 0);
	long n = 0;
	assert_int_equal(idp_replay_purge(pc, &n, &e), 0);
	assert_true(n >= 1);
	db_release(pool, pc, false);
	/* the whole intake with the database */
	struct idp_intake_params p = params();
	p.replay_fn = idp_replay_pool_fn;
	p.replay_arg = pool;
	struct result r;
	char rid[64];
	snprintf(rid, sizeof rid, "_dbreq%ld_%d", (long)time(NULL), getpid());
	test_now = time(NULL); /* the database compares expiry with its own clock */
	post(&p, &(struct rq){ .id = rid }, K_SP, &r);
	ASSERT_OK(&r);
	done(&r);
	post(&p, &(struct rq){ .id = rid }, K_SP, &r);
	ASSERT_UNTRUSTED(&r, EFOS_E_INVALID, "already used");
	test_now = NOW;
	db_pool_destroy(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_redirect_ok, teardown_seen),
		cmocka_unit_test_teardown(test_post_ok, teardown_seen),
		cmocka_unit_test_teardown(test_acs_index_and_hok, teardown_seen),
		cmocka_unit_test_teardown(test_unsigned_allowed_by_policy, teardown_seen),
		cmocka_unit_test_teardown(test_unknown_sp, teardown_seen),
		cmocka_unit_test_teardown(test_bad_signature, teardown_seen),
		cmocka_unit_test_teardown(test_sha1_refused, teardown_seen),
		cmocka_unit_test_teardown(test_unsigned_when_required, teardown_seen),
		cmocka_unit_test_teardown(test_destination, teardown_seen),
		cmocka_unit_test_teardown(test_time, teardown_seen),
		cmocka_unit_test_teardown(test_replay, teardown_seen),
		cmocka_unit_test_teardown(test_acs, teardown_seen),
		cmocka_unit_test_teardown(test_malformed, teardown_seen),
		cmocka_unit_test_teardown(test_doctype_first, teardown_seen),
		cmocka_unit_test_teardown(test_signature_wrapping, teardown_seen),
		cmocka_unit_test_teardown(test_loa, teardown_seen),
		cmocka_unit_test_teardown(test_nameid_policy, teardown_seen),
		cmocka_unit_test_teardown(test_policy_answers, teardown_seen),
		cmocka_unit_test_teardown(test_sign_message_plain, teardown_seen),
		cmocka_unit_test_teardown(test_sign_message_encrypted, teardown_seen),
		cmocka_unit_test_teardown(test_sad_request, teardown_seen),
		cmocka_unit_test_teardown(test_principal_selection, teardown_seen),
		cmocka_unit_test_teardown(test_replay_db, teardown_seen),
	};
	return cmocka_run_group_tests_name("idp_request", tests, group_setup, group_teardown);
}
