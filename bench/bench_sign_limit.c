/* bench_sign_limit: the raw signing limit of this machine and token, the baseline that every
 * later benchmark reports itself against (issue 2 item 9, issue 6 item 1).
 *
 * For RSA-2048, RSA-3072 and ECDSA P-256, with 1 and 2 threads (each a fixed time, after a
 * warm-up), it counts signatures per second along five paths:
 *
 *   hsm          hsm_sign_digest() of a SHA-256 digest: hsm/ straight to PKCS#11 C_Sign
 *   evp-hsm      EVP_DigestSign() with hsm_evp_pkey(): the OpenSSL bridge (X.509, CMS, OCSP)
 *   xmldsig-hsm  hsm_xmldsig_sign() of a ~4 KB SAML assertion with an enveloped signature
 *                template: the xmlsec bridge (what a login pays)
 *   evp-mem      EVP_DigestSign() with a key generated in memory: OpenSSL alone
 *   xmldsig-mem  xmlSecDSigCtxSign() of the same assertion with a bare in-memory key
 *
 * The HSM keys are session objects generated in the token at start (CKA_TOKEN false), so the
 * run leaves nothing behind in the token. Before a path is timed, one signature made along it
 * is verified with the public key, so a broken path is reported, not measured.
 *
 * Output (stdout): one line per cell that scripts read,
 *   limit path=hsm alg=rsa2048 threads=2 ops_per_s=4312 mean=4290 ops=12870 seconds=3.000 cv=0.021 errors=0
 * (ops_per_s: median of the rates of 0.25 s slices; mean: ops / seconds; cv: spread of the
 * slices, high when something else used the CPU) then a Markdown table. Diagnostics go to stderr. Nothing here asserts a time: the exit status
 * is 0 when every cell ran, 1 when a path failed (its cells say errors=N), 2 when the
 * environment is missing or wrong.
 *
 * Environment (flags override): EFOS_BENCH_HSM_MODULE, EFOS_BENCH_HSM_TOKEN, EFOS_BENCH_HSM_PIN
 * (falling back to the EFOS_TEST_HSM_* names that scripts/testenv.sh writes), and
 * EFOS_BENCH_DURATION, EFOS_BENCH_WARMUP, EFOS_BENCH_THREADS, EFOS_BENCH_PATHS, EFOS_BENCH_ALGS,
 * EFOS_BENCH_SESSIONS. See --help. */
#include <errno.h>
#include <math.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/valid.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/xmltree.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/templates.h>
#include <xmlsec/crypto.h>
#include <xmlsec/openssl/evp.h>

#include "core/err.h"
#include "core/log.h"
#include "hsm/hsm.h"
#include "hsm/bridge.h"

#define MAX_THREADS 64
#define MAX_THREAD_COUNTS 8
#define SLICE_S 0.25       /* sampling slice for the spread of a cell */
#define UNSTEADY_CV 0.15    /* spread above which a cell is flagged in the table */

/* ---- what is measured ---- */

enum path_id { P_HSM, P_EVP_HSM, P_XML_HSM, P_EVP_MEM, P_XML_MEM, P_COUNT };
static const struct path_desc {
	const char *name;   /* path= in the output lines */
	const char *title;  /* row label in the table */
} paths[P_COUNT] = {
	[P_HSM]     = { "hsm",         "(a) hsm/ → PKCS#11 C_Sign (hsm_sign_digest)" },
	[P_EVP_HSM] = { "evp-hsm",     "(b) OpenSSL bridge (EVP_DigestSign, hsm_evp_pkey)" },
	[P_XML_HSM] = { "xmldsig-hsm", "(b) xmlsec bridge (hsm_xmldsig_sign, 4 KB assertion)" },
	[P_EVP_MEM] = { "evp-mem",     "(c) OpenSSL, key in memory (EVP_DigestSign)" },
	[P_XML_MEM] = { "xmldsig-mem", "(c) xmlsec, key in memory (4 KB assertion)" },
};

enum alg_id { A_RSA2048, A_RSA3072, A_P256, A_COUNT };
static const struct alg_desc {
	const char *name;
	const char *title;
	enum hsm_key_kind kind;
	int bits;
	int curve_nid;
} algs[A_COUNT] = {
	[A_RSA2048] = { "rsa2048", "RSA-2048",    HSM_KEY_RSA, 2048, 0 },
	[A_RSA3072] = { "rsa3072", "RSA-3072",    HSM_KEY_RSA, 3072, 0 },
	[A_P256]    = { "p256",    "ECDSA P-256", HSM_KEY_EC,  256,  NID_X9_62_prime256v1 },
};

/* Everything one algorithm needs, made once before any timing. */
struct alg_state {
	const struct alg_desc *d;
	bool selected;
	struct hsm_key *hk;        /* session key in the token */
	EVP_PKEY *bridge;          /* hsm_evp_pkey(hk) */
	EVP_PKEY *mem;             /* generated in memory */
	xmlSecKeyPtr xmem;         /* mem as a bare xmlsec key */
	xmlSecKeyPtr xmem_pub;     /* verification keys */
	xmlSecKeyPtr xhsm_pub;
	xmlDocPtr tmpl;            /* assertion with its signature template */
	char bridge_err[EFOS_ERR_MSG_MAX];
	size_t doc_bytes;          /* size of the signed assertion, for the table's note */
};

struct options {
	double duration, warmup;
	int threads[MAX_THREAD_COUNTS];
	int nthreads;
	bool path_on[P_COUNT];
	bool alg_on[A_COUNT];
	int sessions;
	const char *module, *token;
};

struct result {
	bool ran;
	double ops_per_s;
	long ops;
	double seconds;
	long errors;
	double mean_ops_per_s; /* over the whole cell; ops_per_s is the median of the slices */
	double cpu_us;    /* process CPU time per operation, µs: the cost, whatever else runs */
	double cv;        /* coefficient of variation of the rate over the slices of the run */
};

/* One thread of one cell. Aligned so the counters of two threads never share a cache line. */
struct worker {
	_Alignas(64) _Atomic long ops;
	_Atomic int failed;
	struct cell *cell;
	pthread_t tid;
	EVP_MD_CTX *mctx;
	unsigned char sig[1024];
	size_t siglen;
	char err[EFOS_ERR_MSG_MAX + 64];
};

struct cell {
	enum path_id path;
	struct alg_state *as;
	_Atomic int stop;
	int nthreads;
	struct worker *w;
};

/* The data signed by the evp paths (about the size of a SignedInfo) and the digest signed by
 * the hsm path. */
static unsigned char msg[512];
static unsigned char msg_digest[32];

/* ---- small helpers ---- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9) };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void openssl_errors(char *buf, size_t cap)
{
	unsigned long code = ERR_get_error();
	if (code == 0)
		snprintf(buf, cap, "(no OpenSSL error queued)");
	else
		ERR_error_string_n(code, buf, cap);
	ERR_clear_error();
}

/* "1234567" -> "1,234,567" */
static const char *thousands(double v, char *buf, size_t cap)
{
	char raw[32];
	snprintf(raw, sizeof raw, "%.0f", v);
	size_t n = strlen(raw), o = 0;
	for (size_t i = 0; i < n && o + 2 < cap; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = raw[i];
	}
	buf[o] = '\0';
	return buf;
}

/* ---- the SAML-assertion-like document ---- */

static const char assertion_xml[] =
"<saml2:Assertion xmlns:saml2=\"urn:oasis:names:tc:SAML:2.0:assertion\" "
"xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
"ID=\"_5b2f0a3c9e8d4f71a6c0b1e2d3f4a5b6\" IssueInstant=\"2024-05-14T08:31:07.512Z\" Version=\"2.0\">"
"<saml2:Issuer>https://efos.example.se/idp</saml2:Issuer>"
"<saml2:Subject>"
"<saml2:NameID Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:persistent\" "
"NameQualifier=\"https://efos.example.se/idp\" SPNameQualifier=\"https://app.agency.example.se/sp\">"
"8f3a1c5e-2b7d-4e90-a6f4-1d2c3b4a5e6f</saml2:NameID>"
"<saml2:SubjectConfirmation Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\">"
"<saml2:SubjectConfirmationData Address=\"192.0.2.17\" InResponseTo=\"_a1b2c3d4e5f60718293a4b5c6d7e8f90\" "
"NotOnOrAfter=\"2024-05-14T08:36:07.512Z\" Recipient=\"https://app.agency.example.se/sp/saml/acs\"/>"
"</saml2:SubjectConfirmation></saml2:Subject>"
"<saml2:Conditions NotBefore=\"2024-05-14T08:30:07.512Z\" NotOnOrAfter=\"2024-05-14T08:36:07.512Z\">"
"<saml2:AudienceRestriction><saml2:Audience>https://app.agency.example.se/sp</saml2:Audience>"
"</saml2:AudienceRestriction></saml2:Conditions>"
"<saml2:AuthnStatement AuthnInstant=\"2024-05-14T08:31:05.004Z\" SessionIndex=\"_c0ffee1234567890abcdef0123456789\">"
"<saml2:AuthnContext><saml2:AuthnContextClassRef>http://id.swedenconnect.se/loa/1.0/loa4"
"</saml2:AuthnContextClassRef><saml2:AuthenticatingAuthority>https://efos.example.se/idp"
"</saml2:AuthenticatingAuthority></saml2:AuthnContext></saml2:AuthnStatement>"
"<saml2:AttributeStatement>"
"<saml2:Attribute FriendlyName=\"personalIdentityNumber\" Name=\"urn:oid:1.2.752.29.4.13\" "
"NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-format:uri\">"
"<saml2:AttributeValue xsi:type=\"xsd:string\">197705232382</saml2:AttributeValue></saml2:Attribute>"
"<saml2:Attribute FriendlyName=\"givenName\" Name=\"urn:oid:2.5.4.42\" "
"NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-format:uri\">"
"<saml2:AttributeValue xsi:type=\"xsd:string\">Frida</saml2:AttributeValue></saml2:Attribute>"
"<saml2:Attribute FriendlyName=\"sn\" Name=\"urn:oid:2.5.4.4\" "
"NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-format:uri\">"
"<saml2:AttributeValue xsi:type=\"xsd:string\">Kransstege</saml2:AttributeValue></saml2:Attribute>"
"<saml2:Attribute FriendlyName=\"orgAffiliation\" Name=\"urn:oid:1.2.752.201.3.1\" "
"NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-format:uri\">"
"<saml2:AttributeValue xsi:type=\"xsd:string\">197705232382@2021002114</saml2:AttributeValue></saml2:Attribute>"
"</saml2:AttributeStatement></saml2:Assertion>";
#define ASSERTION_ID "_5b2f0a3c9e8d4f71a6c0b1e2d3f4a5b6"

/* A self-signed certificate for `key`, as base64 DER, for the template's KeyInfo: it only
 * gives the document its realistic size (the certificate is put in once, as docs advise). */
static char *cert_base64(EVP_PKEY *key, char *err, size_t errcap)
{
	X509 *x = X509_new();
	X509_NAME *n = NULL;
	unsigned char *der = NULL;
	char *b64 = NULL;
	int len;
	if (x == NULL || !X509_set_version(x, X509_VERSION_3) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), 0x5eed) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24 * 365) == NULL ||
	    !X509_set_pubkey(x, key))
		goto fail;
	n = X509_NAME_new();
	if (n == NULL ||
	    !X509_NAME_add_entry_by_txt(n, "C", MBSTRING_UTF8, (const unsigned char *)"SE", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)"EFOS benchmark", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"EFOS IdP signing (bench)", -1, -1, 0) ||
	    !X509_set_subject_name(x, n) || !X509_set_issuer_name(x, n) ||
	    X509_sign(x, key, EVP_sha256()) <= 0)
		goto fail;
	len = i2d_X509(x, &der);
	if (len <= 0)
		goto fail;
	b64 = malloc(((size_t)len + 2) / 3 * 4 + 1);
	if (b64 == NULL)
		goto fail;
	EVP_EncodeBlock((unsigned char *)b64, der, len);
	goto out;
fail:
	openssl_errors(err, errcap);
out:
	OPENSSL_free(der);
	X509_NAME_free(n);
	X509_free(x);
	return b64;
}

static xmlNodePtr first_child_element(xmlNodePtr n)
{
	for (xmlNodePtr c = n ? n->children : NULL; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			return c;
	return NULL;
}

/* The Assertion of doc and its <ds:Signature> (the element after Issuer), with the ID
 * attribute registered so the Reference "#ID" resolves. */
static xmlNodePtr signature_node(xmlDocPtr doc)
{
	xmlNodePtr root = xmlDocGetRootElement(doc);
	xmlNodePtr issuer = first_child_element(root);
	xmlNodePtr sig = issuer ? issuer->next : NULL;
	while (sig != NULL && sig->type != XML_ELEMENT_NODE)
		sig = sig->next;
	if (sig == NULL || !xmlSecCheckNodeName(sig, xmlSecNodeSignature, xmlSecDSigNs))
		return NULL;
	if (xmlGetID(doc, BAD_CAST ASSERTION_ID) == NULL) {
		xmlAttrPtr id = xmlHasProp(root, BAD_CAST "ID");
		if (id == NULL || xmlAddID(NULL, doc, BAD_CAST ASSERTION_ID, id) == NULL)
			return NULL;
	}
	return sig;
}

/* The assertion with an enveloped signature template after Issuer: exclusive c14n, rsa-sha256
 * or ecdsa-sha256, one Reference to the Assertion's ID with the enveloped and exc-c14n
 * transforms, KeyInfo/X509Data/X509Certificate filled once. */
static xmlDocPtr make_template(const struct alg_desc *d, EVP_PKEY *cert_key, char *err, size_t errcap)
{
	xmlDocPtr doc = xmlReadMemory(assertion_xml, (int)sizeof assertion_xml - 1, "assertion.xml", NULL,
				      XML_PARSE_NONET);
	xmlNodePtr root, issuer, sig, ref, ki, x509, cert;
	char *b64 = NULL;
	if (doc == NULL) {
		snprintf(err, errcap, "the built-in assertion does not parse");
		return NULL;
	}
	root = xmlDocGetRootElement(doc);
	issuer = first_child_element(root);
	sig = xmlSecTmplSignatureCreate(doc, xmlSecTransformExclC14NId,
					d->kind == HSM_KEY_RSA ? xmlSecTransformRsaSha256Id
							       : xmlSecTransformEcdsaSha256Id, NULL);
	if (issuer == NULL || sig == NULL || xmlAddNextSibling(issuer, sig) == NULL)
		goto fail;
	ref = xmlSecTmplSignatureAddReference(sig, xmlSecTransformSha256Id, NULL,
					      BAD_CAST "#" ASSERTION_ID, NULL);
	if (ref == NULL || xmlSecTmplReferenceAddTransform(ref, xmlSecTransformEnvelopedId) == NULL ||
	    xmlSecTmplReferenceAddTransform(ref, xmlSecTransformExclC14NId) == NULL)
		goto fail;
	ki = xmlSecTmplSignatureEnsureKeyInfo(sig, NULL);
	x509 = ki ? xmlSecTmplKeyInfoAddX509Data(ki) : NULL;
	cert = x509 ? xmlSecTmplX509DataAddCertificate(x509) : NULL;
	if (cert == NULL)
		goto fail;
	b64 = cert_base64(cert_key, err, errcap);
	if (b64 == NULL)
		goto fail_msg;
	xmlNodeSetContent(cert, BAD_CAST b64);
	free(b64);
	if (signature_node(doc) == NULL)
		goto fail;
	return doc;
fail:
	snprintf(err, errcap, "building the xmlsec signature template failed");
fail_msg:
	xmlFreeDoc(doc);
	return NULL;
}

/* An xmlsec key wrapping an OpenSSL key (a new reference; the caller keeps its own). */
static xmlSecKeyPtr xmlsec_key(EVP_PKEY *pkey)
{
	xmlSecKeyPtr key = xmlSecKeyCreate();
	xmlSecKeyDataPtr data;
	if (key == NULL || !EVP_PKEY_up_ref(pkey))
		goto fail;
	data = xmlSecOpenSSLEvpKeyAdopt(pkey);
	if (data == NULL) {
		EVP_PKEY_free(pkey);
		goto fail;
	}
	if (xmlSecKeySetValue(key, data) < 0) {
		xmlSecKeyDataDestroy(data);
		goto fail;
	}
	return key;
fail:
	if (key != NULL)
		xmlSecKeyDestroy(key);
	return NULL;
}

/* ---- one signature along each path ---- */

static int sign_hsm(struct worker *w)
{
	struct alg_state *as = w->cell->as;
	efos_err e;
	efos_err_clear(&e);
	w->siglen = sizeof w->sig;
	if (hsm_sign_digest(as->hk, EVP_sha256(), as->d->kind == HSM_KEY_RSA ? HSM_PAD_PKCS1 : HSM_PAD_ECDSA,
			    HSM_SIG_DER, msg_digest, sizeof msg_digest, w->sig, &w->siglen, &e) != EFOS_OK) {
		snprintf(w->err, sizeof w->err, "hsm_sign_digest: %s", e.msg);
		return -1;
	}
	return 0;
}

static int sign_evp(struct worker *w, EVP_PKEY *pkey)
{
	char oe[256];
	w->siglen = sizeof w->sig;
	if (EVP_MD_CTX_reset(w->mctx) != 1 ||
	    EVP_DigestSignInit(w->mctx, NULL, EVP_sha256(), NULL, pkey) != 1 ||
	    EVP_DigestSign(w->mctx, w->sig, &w->siglen, msg, sizeof msg) != 1) {
		openssl_errors(oe, sizeof oe);
		snprintf(w->err, sizeof w->err, "EVP_DigestSign: %s", oe);
		return -1;
	}
	return 0;
}

static int sign_evp_hsm(struct worker *w) { return sign_evp(w, w->cell->as->bridge); }
static int sign_evp_mem(struct worker *w) { return sign_evp(w, w->cell->as->mem); }

/* A fresh copy of the template (as a login builds a fresh assertion), signed; *out gets the
 * document. The copy is part of what is timed: about 4 KB of tree, a few µs. */
static int sign_xml_keep(struct worker *w, bool via_hsm, xmlDocPtr *out)
{
	struct alg_state *as = w->cell->as;
	xmlDocPtr doc = xmlCopyDoc(as->tmpl, 1);
	xmlNodePtr sig = doc ? signature_node(doc) : NULL;
	int rc = -1;
	*out = NULL;
	if (sig == NULL) {
		snprintf(w->err, sizeof w->err, "copying the assertion template failed");
		goto out;
	}
	if (via_hsm) {
		efos_err e;
		efos_err_clear(&e);
		if (hsm_xmldsig_sign(sig, as->hk, &e) != EFOS_OK) {
			snprintf(w->err, sizeof w->err, "hsm_xmldsig_sign: %s", e.msg);
			goto out;
		}
	} else {
		xmlSecDSigCtx ctx;
		if (xmlSecDSigCtxInitialize(&ctx, NULL) < 0) {
			snprintf(w->err, sizeof w->err, "xmlSecDSigCtxInitialize failed");
			goto out;
		}
		ctx.enabledReferenceUris = xmlSecTransformUriTypeSameDocument;
		ctx.signKey = xmlSecKeyDuplicate(as->xmem);
		int r = ctx.signKey ? xmlSecDSigCtxSign(&ctx, sig) : -1;
		xmlSecDSigCtxFinalize(&ctx);
		if (r < 0) {
			snprintf(w->err, sizeof w->err, "xmlSecDSigCtxSign failed");
			goto out;
		}
	}
	rc = 0;
out:
	if (rc == 0)
		*out = doc;
	else if (doc != NULL)
		xmlFreeDoc(doc);
	return rc;
}

static int sign_xml(struct worker *w, bool via_hsm)
{
	xmlDocPtr doc;
	if (sign_xml_keep(w, via_hsm, &doc) != 0)
		return -1;
	xmlFreeDoc(doc);
	return 0;
}

static int sign_xml_hsm(struct worker *w) { return sign_xml(w, true); }
static int sign_xml_mem(struct worker *w) { return sign_xml(w, false); }

static int (*const sign_fn[P_COUNT])(struct worker *) = {
	[P_HSM] = sign_hsm, [P_EVP_HSM] = sign_evp_hsm, [P_XML_HSM] = sign_xml_hsm,
	[P_EVP_MEM] = sign_evp_mem, [P_XML_MEM] = sign_xml_mem,
};

/* ---- checking a path once before it is timed ---- */

static bool verify_raw(EVP_PKEY *pub, bool digest_only, const unsigned char *sig, size_t siglen,
		       char *err, size_t errcap)
{
	bool ok = false;
	if (digest_only) {
		EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(pub, NULL);
		ok = pc != NULL && EVP_PKEY_verify_init(pc) == 1 &&
		     EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) == 1 &&
		     EVP_PKEY_verify(pc, sig, siglen, msg_digest, sizeof msg_digest) == 1;
		EVP_PKEY_CTX_free(pc);
	} else {
		EVP_MD_CTX *mc = EVP_MD_CTX_new();
		ok = mc != NULL && EVP_DigestVerifyInit(mc, NULL, EVP_sha256(), NULL, pub) == 1 &&
		     EVP_DigestVerify(mc, sig, siglen, msg, sizeof msg) == 1;
		EVP_MD_CTX_free(mc);
	}
	if (!ok) {
		char oe[256];
		openssl_errors(oe, sizeof oe);
		snprintf(err, errcap, "the signature does not verify with the public key: %s", oe);
	}
	return ok;
}

static bool verify_xml(xmlDocPtr doc, xmlSecKeyPtr pub, char *err, size_t errcap)
{
	xmlNodePtr sig = signature_node(doc);
	xmlSecDSigCtx ctx;
	bool ok = false;
	if (sig == NULL || xmlSecDSigCtxInitialize(&ctx, NULL) < 0) {
		snprintf(err, errcap, "signed document lost its Signature");
		return false;
	}
	ctx.enabledReferenceUris = xmlSecTransformUriTypeSameDocument;
	ctx.signKey = xmlSecKeyDuplicate(pub);
	if (ctx.signKey != NULL && xmlSecDSigCtxVerify(&ctx, sig) >= 0 &&
	    ctx.status == xmlSecDSigStatusSucceeded)
		ok = true;
	else
		snprintf(err, errcap, "the XML signature does not verify with the public key");
	xmlSecDSigCtxFinalize(&ctx);
	if (ok) {
		/* The certificate put in the template once must still be there. */
		xmlNodePtr c = xmlSecFindNode(sig, xmlSecNodeX509Certificate, xmlSecDSigNs);
		xmlChar *txt = c ? xmlNodeGetContent(c) : NULL;
		if (txt == NULL || xmlStrlen(txt) < 100) {
			snprintf(err, errcap, "signing dropped the template's X509Certificate");
			ok = false;
		}
		xmlFree(txt);
	}
	return ok;
}

static size_t xml_size(xmlDocPtr doc)
{
	xmlChar *buf = NULL;
	int len = 0;
	xmlDocDumpMemory(doc, &buf, &len);
	xmlFree(buf);
	return len > 0 ? (size_t)len : 0;
}

/* Signs once along the path and verifies the result. */
static bool check_path(enum path_id p, struct alg_state *as, char *err, size_t errcap, size_t *doc_bytes)
{
	struct cell c = { .path = p, .as = as };
	struct worker w = { .cell = &c };
	bool ok = false;
	if (p == P_EVP_HSM && as->bridge == NULL) {
		snprintf(err, errcap, "hsm_evp_pkey: %s", as->bridge_err);
		return false;
	}
	w.mctx = EVP_MD_CTX_new();
	if (w.mctx == NULL) {
		snprintf(err, errcap, "out of memory");
		return false;
	}
	switch (p) {
	case P_HSM:
	case P_EVP_HSM:
	case P_EVP_MEM:
		if (sign_fn[p](&w) != 0) {
			snprintf(err, errcap, "%s", w.err);
			break;
		}
		ok = verify_raw(p == P_EVP_MEM ? as->mem : hsm_key_public(as->hk), p == P_HSM,
				w.sig, w.siglen, err, errcap);
		break;
	case P_XML_HSM:
	case P_XML_MEM: {
		xmlDocPtr doc;
		if (sign_xml_keep(&w, p == P_XML_HSM, &doc) != 0) {
			snprintf(err, errcap, "%s", w.err);
			break;
		}
		ok = verify_xml(doc, p == P_XML_HSM ? as->xhsm_pub : as->xmem_pub, err, errcap);
		if (doc_bytes)
			*doc_bytes = xml_size(doc);
		xmlFreeDoc(doc);
		break;
	}
	default:
		break;
	}
	EVP_MD_CTX_free(w.mctx);
	return ok;
}

/* ---- timing one cell ---- */

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int (*fn)(struct worker *) = sign_fn[w->cell->path];
	while (!atomic_load_explicit(&w->cell->stop, memory_order_relaxed)) {
		if (fn(w) != 0) {
			atomic_store(&w->failed, 1);
			break;
		}
		atomic_fetch_add_explicit(&w->ops, 1, memory_order_relaxed);
	}
	return NULL;
}

static double cpu_s(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static long total_ops(struct cell *c)
{
	long n = 0;
	for (int i = 0; i < c->nthreads; i++)
		n += atomic_load(&c->w[i].ops);
	return n;
}

static struct result run_cell(enum path_id p, struct alg_state *as, int nthreads,
			      const struct options *o)
{
	struct result r = { .ran = true };
	struct cell c = { .path = p, .as = as, .nthreads = nthreads };
	int started = 0;
	c.w = aligned_alloc(64, sizeof *c.w * (size_t)nthreads);
	if (c.w == NULL) {
		fprintf(stderr, "bench_sign_limit: out of memory\n");
		r.errors = 1;
		return r;
	}
	memset(c.w, 0, sizeof *c.w * (size_t)nthreads);
	atomic_store(&c.stop, 0);
	for (int i = 0; i < nthreads; i++) {
		c.w[i].cell = &c;
		c.w[i].mctx = EVP_MD_CTX_new();
		if (c.w[i].mctx == NULL || pthread_create(&c.w[i].tid, NULL, worker_main, &c.w[i]) != 0) {
			fprintf(stderr, "bench_sign_limit: cannot start thread %d\n", i);
			EVP_MD_CTX_free(c.w[i].mctx);
			r.errors = 1;
			break;
		}
		started++;
	}
	if (started == nthreads) {
		sleep_s(o->warmup);
		/* Count in slices. The cell's figure is the median of the per-slice rates: when
		 * another process takes a core for part of the cell (a compiler, a backup), the
		 * median keeps the undisturbed rate where the mean would drop. The mean is printed
		 * too, and the spread of the slices (cv) flags an unsteady cell. */
		int nslices = (int)(o->duration / SLICE_S + 0.5);
		if (nslices < 1)
			nslices = 1;
		double *rates = calloc((size_t)nslices, sizeof *rates);
		double slice = o->duration / nslices, sum = 0, sumsq = 0;
		double t0 = now_s(), tp = t0, c0 = cpu_s();
		long n0 = total_ops(&c), np = n0;
		for (int i = 0; i < nslices; i++) {
			sleep_s(slice);
			long n = total_ops(&c);
			double t = now_s();
			double rate = t > tp ? (double)(n - np) / (t - tp) : 0;
			if (rates)
				rates[i] = rate;
			sum += rate;
			sumsq += rate * rate;
			np = n;
			tp = t;
		}
		r.ops = np - n0;
		r.seconds = tp - t0;
		r.cpu_us = r.ops > 0 ? (cpu_s() - c0) * 1e6 / (double)r.ops : 0;
		r.mean_ops_per_s = r.seconds > 0 ? (double)r.ops / r.seconds : 0;
		r.ops_per_s = r.mean_ops_per_s;
		if (rates) {
			qsort(rates, (size_t)nslices, sizeof *rates, cmp_double);
			r.ops_per_s = nslices % 2 ? rates[nslices / 2]
						  : (rates[nslices / 2 - 1] + rates[nslices / 2]) / 2;
			free(rates);
		}
		double mean = sum / nslices, var = sumsq / nslices - mean * mean;
		r.cv = mean > 0 && var > 0 ? sqrt(var) / mean : 0;
	}
	atomic_store(&c.stop, 1);
	for (int i = 0; i < started; i++) {
		pthread_join(c.w[i].tid, NULL);
		if (atomic_load(&c.w[i].failed)) {
			r.errors++;
			fprintf(stderr, "bench_sign_limit: %s %s thread %d: %s\n", paths[p].name,
				as->d->name, i, c.w[i].err);
		}
		EVP_MD_CTX_free(c.w[i].mctx);
	}
	free(c.w);
	return r;
}

/* ---- set-up ---- */

static const char *env2(const char *a, const char *b)
{
	const char *v = getenv(a);
	if (v == NULL || *v == '\0')
		v = getenv(b);
	return v != NULL && *v != '\0' ? v : NULL;
}

static bool parse_list(const char *s, const char *what, bool *on, int n,
		       const char *(*name_of)(int))
{
	char buf[256];
	snprintf(buf, sizeof buf, "%s", s);
	for (int i = 0; i < n; i++)
		on[i] = false;
	for (char *save = NULL, *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		bool found = false;
		for (int i = 0; i < n; i++)
			if (strcmp(t, name_of(i)) == 0 || strcmp(t, "all") == 0)
				on[i] = found = true;
		if (!found) {
			fprintf(stderr, "bench_sign_limit: unknown %s '%s' (known:", what, t);
			for (int i = 0; i < n; i++)
				fprintf(stderr, " %s", name_of(i));
			fprintf(stderr, ", all)\n");
			return false;
		}
	}
	return true;
}

static const char *path_name(int i) { return paths[i].name; }
static const char *alg_name(int i) { return algs[i].name; }

static bool parse_threads(const char *s, struct options *o)
{
	char buf[128];
	snprintf(buf, sizeof buf, "%s", s);
	o->nthreads = 0;
	for (char *save = NULL, *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		char *end;
		long v = strtol(t, &end, 10);
		if (*end != '\0' || v < 1 || v > MAX_THREADS || o->nthreads == MAX_THREAD_COUNTS) {
			fprintf(stderr, "bench_sign_limit: bad thread count '%s' (1..%d, at most %d counts)\n",
				t, MAX_THREADS, MAX_THREAD_COUNTS);
			return false;
		}
		o->threads[o->nthreads++] = (int)v;
	}
	return o->nthreads > 0;
}

static bool parse_seconds(const char *s, const char *what, double min, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (*end != '\0' || !(v >= min) || v > 3600) {
		fprintf(stderr, "bench_sign_limit: bad %s '%s' (seconds, %g..3600)\n", what, s, min);
		return false;
	}
	*out = v;
	return true;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: bench_sign_limit [options]\n"
"Measures signatures/s for RSA-2048, RSA-3072, P-256 along: hsm (hsm_sign_digest -> PKCS#11),\n"
"evp-hsm (OpenSSL bridge), xmldsig-hsm (xmlsec bridge, 4 KB assertion), evp-mem and\n"
"xmldsig-mem (in-memory keys). Prints 'limit path=.. alg=.. threads=.. ops_per_s=..' lines\n"
"and a Markdown table. Usually run through `make bench`.\n"
"  -d, --duration SEC   timed seconds per cell        (EFOS_BENCH_DURATION, default 3)\n"
"  -w, --warmup SEC     warm-up seconds per cell      (EFOS_BENCH_WARMUP, default 1)\n"
"  -t, --threads LIST   thread counts, e.g. 1,2       (EFOS_BENCH_THREADS, default 1,2)\n"
"  -p, --paths LIST     hsm,evp-hsm,xmldsig-hsm,evp-mem,xmldsig-mem or all (EFOS_BENCH_PATHS)\n"
"  -a, --algs LIST      rsa2048,rsa3072,p256 or all   (EFOS_BENCH_ALGS)\n"
"  -s, --sessions N     HSM session pool size         (EFOS_BENCH_SESSIONS, default: most threads)\n"
"The HSM: EFOS_BENCH_HSM_MODULE, EFOS_BENCH_HSM_TOKEN (PKCS#11 URI), EFOS_BENCH_HSM_PIN,\n"
"or the EFOS_TEST_HSM_* names written by scripts/testenv.sh (with SOFTHSM2_CONF for SoftHSM).\n");
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option lo[] = {
		{ "duration", required_argument, NULL, 'd' }, { "warmup", required_argument, NULL, 'w' },
		{ "threads", required_argument, NULL, 't' },  { "paths", required_argument, NULL, 'p' },
		{ "algs", required_argument, NULL, 'a' },     { "sessions", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },           { NULL, 0, NULL, 0 },
	};
	const char *v;
	o->duration = 3;
	o->warmup = 1;
	o->threads[0] = 1;
	o->threads[1] = 2;
	o->nthreads = 2;
	for (int i = 0; i < P_COUNT; i++)
		o->path_on[i] = true;
	for (int i = 0; i < A_COUNT; i++)
		o->alg_on[i] = true;
	o->sessions = 0;
	if ((v = getenv("EFOS_BENCH_DURATION")) && !parse_seconds(v, "EFOS_BENCH_DURATION", 0.1, &o->duration))
		return 2;
	if ((v = getenv("EFOS_BENCH_WARMUP")) && !parse_seconds(v, "EFOS_BENCH_WARMUP", 0, &o->warmup))
		return 2;
	if ((v = getenv("EFOS_BENCH_THREADS")) && !parse_threads(v, o))
		return 2;
	if ((v = getenv("EFOS_BENCH_PATHS")) && !parse_list(v, "path", o->path_on, P_COUNT, path_name))
		return 2;
	if ((v = getenv("EFOS_BENCH_ALGS")) && !parse_list(v, "algorithm", o->alg_on, A_COUNT, alg_name))
		return 2;
	if ((v = getenv("EFOS_BENCH_SESSIONS")))
		o->sessions = atoi(v);
	int ch;
	while ((ch = getopt_long(argc, argv, "d:w:t:p:a:s:h", lo, NULL)) != -1) {
		switch (ch) {
		case 'd': if (!parse_seconds(optarg, "--duration", 0.1, &o->duration)) return 2; break;
		case 'w': if (!parse_seconds(optarg, "--warmup", 0, &o->warmup)) return 2; break;
		case 't': if (!parse_threads(optarg, o)) return 2; break;
		case 'p': if (!parse_list(optarg, "path", o->path_on, P_COUNT, path_name)) return 2; break;
		case 'a': if (!parse_list(optarg, "algorithm", o->alg_on, A_COUNT, alg_name)) return 2; break;
		case 's': o->sessions = atoi(optarg); break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	int most = 0;
	for (int i = 0; i < o->nthreads; i++)
		most = o->threads[i] > most ? o->threads[i] : most;
	if (o->sessions <= 0)
		o->sessions = most;
	if (o->sessions < most) {
		fprintf(stderr, "bench_sign_limit: the session pool (%d) must be at least the largest thread count (%d)\n",
			o->sessions, most);
		return 2;
	}
	return 0;
}

static int xmlsec_start(void)
{
	xmlInitParser();
	if (xmlSecInit() < 0 || xmlSecCheckVersion() != 1 || xmlSecCryptoAppInit(NULL) < 0 ||
	    xmlSecCryptoInit() < 0) {
		fprintf(stderr, "bench_sign_limit: xmlsec initialisation failed\n");
		return -1;
	}
	return 0;
}

static void xmlsec_stop(void)
{
	xmlSecCryptoShutdown();
	xmlSecCryptoAppShutdown();
	xmlSecShutdown();
}

/* Keys and template for one algorithm. Failures of the bridge are recorded, not fatal, so the
 * other paths still run; failing to make the HSM key or the in-memory key is fatal. */
static int alg_setup(struct hsm *h, struct alg_state *as, const struct options *o)
{
	const struct alg_desc *d = as->d;
	efos_err e;
	char label[64], err[512];
	efos_err_clear(&e);
	snprintf(label, sizeof label, "efos-bench-%s-%ld", d->name, (long)getpid());
	struct hsm_keygen_params kp = {
		.kind = d->kind, .bits = d->kind == HSM_KEY_RSA ? d->bits : 0,
		.curve_nid = d->curve_nid, .label = label, .token_object = false,
	};
	double t0 = now_s();
	if (hsm_keygen(h, &kp, &as->hk, &e) != EFOS_OK) {
		fprintf(stderr, "bench_sign_limit: generating a %s session key in the token failed: %s\n",
			d->title, e.msg);
		return -1;
	}
	fprintf(stderr, "bench_sign_limit: %s session key generated in the token in %.2f s\n",
		d->title, now_s() - t0);
	as->mem = d->kind == HSM_KEY_RSA ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)d->bits)
					 : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (as->mem == NULL) {
		openssl_errors(err, sizeof err);
		fprintf(stderr, "bench_sign_limit: generating a %s key in memory failed: %s\n", d->title, err);
		return -1;
	}
	if (o->path_on[P_EVP_HSM] || o->path_on[P_XML_HSM]) {
		efos_err_clear(&e);
		as->bridge = hsm_evp_pkey(as->hk, &e);
		if (as->bridge == NULL)
			snprintf(as->bridge_err, sizeof as->bridge_err, "%s", e.msg);
	}
	if (o->path_on[P_XML_HSM] || o->path_on[P_XML_MEM]) {
		as->tmpl = make_template(d, as->mem, err, sizeof err);
		as->xmem = xmlsec_key(as->mem);
		as->xmem_pub = xmlsec_key(as->mem);
		as->xhsm_pub = xmlsec_key(hsm_key_public(as->hk));
		if (as->tmpl == NULL) {
			fprintf(stderr, "bench_sign_limit: %s signature template: %s\n", d->title, err);
			return -1;
		}
		if (as->xmem == NULL || as->xmem_pub == NULL || as->xhsm_pub == NULL) {
			fprintf(stderr, "bench_sign_limit: wrapping %s keys for xmlsec failed\n", d->title);
			return -1;
		}
	}
	return 0;
}

static void alg_cleanup(struct alg_state *as)
{
	efos_err e;
	if (as->xmem) xmlSecKeyDestroy(as->xmem);
	if (as->xmem_pub) xmlSecKeyDestroy(as->xmem_pub);
	if (as->xhsm_pub) xmlSecKeyDestroy(as->xhsm_pub);
	if (as->tmpl) xmlFreeDoc(as->tmpl);
	EVP_PKEY_free(as->bridge);
	EVP_PKEY_free(as->mem);
	if (as->hk != NULL && hsm_key_destroy(as->hk, &e) != EFOS_OK)
		fprintf(stderr, "bench_sign_limit: destroying the %s session key: %s (it goes when the session closes)\n",
			as->d->title, e.msg);
}

/* ---- the table ---- */

static void print_table(const struct options *o, struct alg_state *as,
			struct result res[P_COUNT][A_COUNT][MAX_THREAD_COUNTS])
{
	char b[32];
	int i1 = -1, imax = -1;
	bool unsteady = false;
	for (int t = 0; t < o->nthreads; t++) {
		if (o->threads[t] == 1)
			i1 = t;
		if (o->threads[t] > 1 && (imax < 0 || o->threads[t] > o->threads[imax]))
			imax = t;
	}
	printf("\n| path | algorithm |");
	for (int t = 0; t < o->nthreads; t++)
		printf(" %d thread%s |", o->threads[t], o->threads[t] == 1 ? "" : "s");
	if (i1 >= 0 && imax >= 0)
		printf(" %d/1 |", o->threads[imax]);
	if (i1 >= 0)
		printf(" CPU µs per signature |");
	printf("\n|---|---|");
	for (int t = 0; t < o->nthreads; t++)
		printf("---:|");
	if (i1 >= 0 && imax >= 0)
		printf("---:|");
	if (i1 >= 0)
		printf("---:|");
	printf("\n");
	for (int p = 0; p < P_COUNT; p++) {
		if (!o->path_on[p])
			continue;
		for (int a = 0; a < A_COUNT; a++) {
			if (!as[a].selected)
				continue;
			printf("| %s | %s |", paths[p].title, algs[a].title);
			for (int t = 0; t < o->nthreads; t++) {
				struct result *r = &res[p][a][t];
				if (!r->ran)
					printf(" – |");
				else if (r->errors)
					printf(" failed |");
				else {
					printf(" %s%s |", thousands(r->ops_per_s, b, sizeof b),
					       r->cv > UNSTEADY_CV ? " †" : "");
					unsteady |= r->cv > UNSTEADY_CV;
				}
			}
			if (i1 >= 0 && imax >= 0) {
				struct result *r1 = &res[p][a][i1], *rm = &res[p][a][imax];
				if (r1->ran && rm->ran && !r1->errors && !rm->errors && r1->ops_per_s > 0)
					printf(" %.2f× |", rm->ops_per_s / r1->ops_per_s);
				else
					printf(" – |");
			}
			if (i1 >= 0) {
				struct result *r1 = &res[p][a][i1];
				if (r1->ran && !r1->errors && r1->cpu_us > 0)
					printf(" %.0f |", r1->cpu_us);
				else
					printf(" – |");
			}
			printf("\n");
		}
	}
	printf("\nSignatures per second (median of %g s slices); %g s per cell after %g s warm-up; HSM session pool %d.",
	       SLICE_S,
	       o->duration, o->warmup, o->sessions);
	const char *sep = " Signed assertion:";
	for (int a = 0; a < A_COUNT; a++) {
		if (as[a].selected && as[a].doc_bytes) {
			printf("%s %s %s bytes", sep, algs[a].title, thousands((double)as[a].doc_bytes, b, sizeof b));
			sep = ",";
		}
	}
	printf("%s\n", *sep == ',' ? "." : "");
	if (i1 >= 0)
		printf("\nCPU µs per signature: CPU time of the process per signature in the 1-thread cell; "
		       "it moves much less than the rates when other programs compete for the cores.\n");
	if (unsteady)
		printf("\n† unsteady: the rate varied by more than %.0f %% (coefficient of variation) between %g s "
		       "slices of the cell; something else was using the CPU. Re-run on a quiet machine.\n",
		       UNSTEADY_CV * 100, SLICE_S);
}

int main(int argc, char **argv)
{
	struct options o;
	struct hsm *h = NULL;
	struct alg_state as[A_COUNT];
	static struct result res[P_COUNT][A_COUNT][MAX_THREAD_COUNTS];
	int rc = parse_options(argc, argv, &o);
	efos_err e;
	if (rc != 0)
		return rc;
	setvbuf(stdout, NULL, _IOLBF, 0);
	log_init("bench", LOG_LVL_WARN);   /* hsm/ logs its warnings and errors, not its chatter */

	o.module = env2("EFOS_BENCH_HSM_MODULE", "EFOS_TEST_HSM_MODULE");
	o.token = env2("EFOS_BENCH_HSM_TOKEN", "EFOS_TEST_HSM_TOKEN");
	const char *pin_env = env2("EFOS_BENCH_HSM_PIN", "EFOS_TEST_HSM_PIN");
	if (o.module == NULL || o.token == NULL || pin_env == NULL) {
		fprintf(stderr,
			"bench_sign_limit: no HSM to measure: set EFOS_BENCH_HSM_MODULE, EFOS_BENCH_HSM_TOKEN and\n"
			"EFOS_BENCH_HSM_PIN (or source the env file of scripts/testenv.sh, which also sets\n"
			"SOFTHSM2_CONF), or run `make bench`, which sets up a SoftHSM token itself.\n"
			"  missing:%s%s%s\n",
			o.module ? "" : " module", o.token ? "" : " token", pin_env ? "" : " pin");
		return 2;
	}
	if (access(o.module, R_OK) != 0) {
		fprintf(stderr, "bench_sign_limit: PKCS#11 module %s: %s\n", o.module, strerror(errno));
		return 2;
	}
	if (strstr(o.module, "softhsm") != NULL && getenv("SOFTHSM2_CONF") == NULL)
		fprintf(stderr, "bench_sign_limit: warning: SOFTHSM2_CONF is not set; SoftHSM will use its system configuration\n");

	RAND_bytes(msg, sizeof msg);
	SHA256(msg, sizeof msg, msg_digest);
	if (xmlsec_start() != 0)
		return 2;

	char *pin = strdup(pin_env);
	efos_err_clear(&e);
	rc = pin ? hsm_open(o.module, o.token, pin, o.sessions, &h, &e) : -1;
	if (pin)
		efos_free_secret(pin);
	if (rc != EFOS_OK) {
		fprintf(stderr, "bench_sign_limit: opening the HSM (%s, %s) failed: %s\n", o.module, o.token,
			pin ? e.msg : "out of memory");
		xmlsec_stop();
		return 2;
	}

	memset(as, 0, sizeof as);
	rc = 0;
	for (int a = 0; a < A_COUNT; a++) {
		as[a].d = &algs[a];
		as[a].selected = o.alg_on[a];
		if (as[a].selected && alg_setup(h, &as[a], &o) != 0) {
			rc = 2;
			goto out;
		}
	}
	printf("# bench_sign_limit duration=%g warmup=%g sessions=%d module=%s\n", o.duration, o.warmup,
	       o.sessions, o.module);

	bool any_failed = false;
	for (int p = 0; p < P_COUNT; p++) {
		if (!o.path_on[p])
			continue;
		for (int a = 0; a < A_COUNT; a++) {
			if (!as[a].selected)
				continue;
			char err[EFOS_ERR_MSG_MAX + 128];
			size_t doc_bytes = 0;
			if (!check_path((enum path_id)p, &as[a], err, sizeof err, &doc_bytes)) {
				fprintf(stderr, "bench_sign_limit: %s %s: not measured: %s\n", paths[p].name,
					algs[a].name, err);
				for (int t = 0; t < o.nthreads; t++) {
					res[p][a][t] = (struct result){ .ran = true, .errors = 1 };
					printf("limit path=%s alg=%s threads=%d ops_per_s=0 mean=0 ops=0 seconds=0 cpu_us=0 cv=0 errors=1\n",
					       paths[p].name, algs[a].name, o.threads[t]);
				}
				any_failed = true;
				continue;
			}
			if (doc_bytes) {
				as[a].doc_bytes = doc_bytes;
				printf("# %s %s: signed assertion is %zu bytes\n", paths[p].name, algs[a].name, doc_bytes);
			}
			for (int t = 0; t < o.nthreads; t++) {
				struct result r = run_cell((enum path_id)p, &as[a], o.threads[t], &o);
				res[p][a][t] = r;
				any_failed |= r.errors > 0;
				printf("limit path=%s alg=%s threads=%d ops_per_s=%.0f mean=%.0f ops=%ld seconds=%.3f cpu_us=%.1f cv=%.3f errors=%ld\n",
				       paths[p].name, algs[a].name, o.threads[t], r.errors ? 0 : r.ops_per_s,
				       r.errors ? 0 : r.mean_ops_per_s, r.ops, r.seconds, r.cpu_us, r.cv, r.errors);
			}
		}
	}
	print_table(&o, as, res);
	rc = any_failed ? 1 : 0;
	if (any_failed)
		fprintf(stderr, "bench_sign_limit: some paths failed (errors=N above); their numbers are not limits\n");
out:
	for (int a = 0; a < A_COUNT; a++)
		if (as[a].d != NULL)
			alg_cleanup(&as[a]);
	hsm_close(h);
	xmlsec_stop();
	return rc;
}
