/* TLS for the HTTP server: the server's certificate chain and key (a PEM file, or an HSM key
 * through hsm/gnutls_bridge) handed to GnuTLS by a certificate callback, and the client
 * certificate chain a peer presented, converted to OpenSSL and verified against tls.client_ca
 * with an X509_STORE built once.
 *
 * On the mTLS listener GnuTLS only requests a client certificate (GNUTLS_CERT_REQUEST, set by
 * libmicrohttpd because the daemon has trust): it verifies the peer's CertificateVerify (proof
 * of possession of the leaf's key) but not the chain, so a certificate of any issuer, expired
 * or not, completes the handshake and is judged here (and, for HTTP_ROUTE_CLIENT_CERT_RAW
 * routes, by the handler). The trust list is only the CertificateRequest's CA-name hint. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gnutls/x509.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include "core/config.h"
#include "core/http_internal.h"
#include "core/log.h"
#include "hsm/gnutls_bridge.h"

static int read_file(const char *path, char **out, size_t *len, efos_err *e)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;
	if (fp == NULL)
		return efos_fail(e, EFOS_E_CONFIG, "%s: %s", path, strerror(errno));
	for (;;) {
		if (cap - n < 4096) {
			if (cap > (16u << 20)) {
				fclose(fp);
				free(buf);
				return efos_fail(e, EFOS_E_CONFIG, "%s: too large", path);
			}
			char *p = realloc(buf, cap + 65536);
			if (p == NULL) {
				fclose(fp);
				free(buf);
				return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
			}
			buf = p;
			cap += 65536;
		}
		size_t r = fread(buf + n, 1, cap - n - 1, fp);
		n += r;
		if (r == 0)
			break;
	}
	int err = ferror(fp);
	fclose(fp);
	if (err) {
		free(buf);
		return efos_fail(e, EFOS_E_CONFIG, "%s: read error", path);
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

static int load_cert_chain(struct http_tls *t, const char *path, efos_err *e)
{
	char *pem = NULL;
	size_t len = 0;
	int rc = -1;
	if (read_file(path, &pem, &len, e) != 0)
		return -1;
	unsigned max = 16;
	t->pcerts = calloc(max, sizeof *t->pcerts);
	if (t->pcerts == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	gnutls_datum_t d = { (unsigned char *)pem, (unsigned)len };
	int ret = gnutls_pcert_list_import_x509_raw(t->pcerts, &max, &d, GNUTLS_X509_FMT_PEM, 0);
	if (ret < 0 || max == 0) {
		efos_fail(e, EFOS_E_CONFIG, "tls.cert %s: not a PEM certificate chain (%s)", path,
			  ret < 0 ? gnutls_strerror(ret) : "empty");
		free(t->pcerts);
		t->pcerts = NULL;
		goto out;
	}
	t->n_pcerts = max;
	rc = 0;
out:
	free(pem);
	return rc;
}

static int load_key_file(struct http_tls *t, const char *path, efos_err *e)
{
	char *pem = NULL;
	size_t len = 0;
	if (read_file(path, &pem, &len, e) != 0)
		return -1;
	int rc = -1, ret = gnutls_privkey_init(&t->key);
	if (ret < 0) {
		efos_fail(e, EFOS_E_INTERNAL, "gnutls_privkey_init: %s", gnutls_strerror(ret));
		goto out;
	}
	gnutls_datum_t d = { (unsigned char *)pem, (unsigned)len };
	ret = gnutls_privkey_import_x509_raw(t->key, &d, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (ret < 0) {
		efos_fail(e, EFOS_E_CONFIG, "tls.key %s: not a PEM private key (%s)", path,
			  gnutls_strerror(ret));
		gnutls_privkey_deinit(t->key);
		t->key = NULL;
		goto out;
	}
	rc = 0;
out:
	efos_wipe(pem, len);
	free(pem);
	return rc;
}

static int load_client_ca(struct http_tls *t, const char *path, efos_err *e)
{
	size_t len = 0;
	int n = 0;
	if (read_file(path, &t->client_ca_pem, &len, e) != 0)
		return -1;
	t->client_store = X509_STORE_new();
	BIO *bio = BIO_new_mem_buf(t->client_ca_pem, (int)len);
	if (t->client_store == NULL || bio == NULL) {
		BIO_free(bio);
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	X509 *x;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		X509_STORE_add_cert(t->client_store, x);
		X509_free(x);
		n++;
	}
	ERR_clear_error();
	BIO_free(bio);
	if (n == 0)
		return efos_fail(e, EFOS_E_CONFIG, "tls.client_ca %s: no PEM certificates in it", path);
	X509_STORE_set_purpose(t->client_store, X509_PURPOSE_SSL_CLIENT);
	return 0;
}

int http_tls_load(struct http_tls *t, const struct efos_config *cfg, struct hsm_key *hsm_key,
		  efos_err *e)
{
	memset(t, 0, sizeof *t);
	if (load_cert_chain(t, cfg->tls_cert, e) != 0)
		goto fail;
	if (hsm_key != NULL) {
		if (hsm_gnutls_privkey(hsm_key, &t->key, e) != 0)
			goto fail;
	} else if (cfg->tls_key == NULL || cfg->tls_key[0] == '\0') {
		efos_fail(e, EFOS_E_CONFIG, "tls.key: missing");
		goto fail;
	} else if (strncmp(cfg->tls_key, "pkcs11:", 7) == 0) {
		efos_fail(e, EFOS_E_CONFIG, "tls.key is a pkcs11: URI but no HSM key was opened for it");
		goto fail;
	} else if (load_key_file(t, cfg->tls_key, e) != 0) {
		goto fail;
	}
	if (cfg->tls_client_ca != NULL && cfg->tls_client_ca[0] != '\0' &&
	    load_client_ca(t, cfg->tls_client_ca, e) != 0)
		goto fail;
	return 0;
fail:
	http_tls_free(t);
	return -1;
}

void http_tls_free(struct http_tls *t)
{
	for (unsigned i = 0; i < t->n_pcerts; i++)
		gnutls_pcert_deinit(&t->pcerts[i]);
	free(t->pcerts);
	if (t->key != NULL)
		gnutls_privkey_deinit(t->key);
	free(t->client_ca_pem);
	X509_STORE_free(t->client_store);
	memset(t, 0, sizeof *t);
}

/* MHD sets the session pointer to its connection; the connection's socket context is our
 * struct http_conn (set when MHD announced the connection, before any TLS byte is read). */
int http_tls_cert_callback(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
			   const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
			   gnutls_pcert_st **pcert, unsigned int *pcert_length,
			   gnutls_privkey_t *privkey)
{
	struct MHD_Connection *c = gnutls_session_get_ptr(session);
	if (c == NULL)
		return -1;
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (ci == NULL || ci->socket_context == NULL)
		return -1;
	struct http_conn *conn = ci->socket_context;
	struct http_tls *t = &conn->lst->srv->tls;
	*pcert = t->pcerts;
	*pcert_length = t->n_pcerts;
	*privkey = t->key;
	return 0;
}

STACK_OF(X509) *http_tls_verify_chain(const struct http_tls *t, X509 *leaf,
				      STACK_OF(X509) *untrusted, char *why, size_t whylen)
{
	STACK_OF(X509) *chain = NULL;
	if (t->client_store == NULL) {
		snprintf(why, whylen, "no tls.client_ca configured");
		return NULL;
	}
	X509_STORE_CTX *sc = X509_STORE_CTX_new();
	if (sc == NULL || !X509_STORE_CTX_init(sc, t->client_store, leaf, untrusted)) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	X509_STORE_CTX_set_purpose(sc, X509_PURPOSE_SSL_CLIENT);
	if (X509_verify_cert(sc) != 1) {
		int err = X509_STORE_CTX_get_error(sc);
		snprintf(why, whylen, "client certificate not accepted: %s (depth %d)",
			 X509_verify_cert_error_string(err), X509_STORE_CTX_get_error_depth(sc));
		goto out;
	}
	chain = X509_STORE_CTX_get1_chain(sc);
out:
	ERR_clear_error();
	X509_STORE_CTX_free(sc);
	return chain;
}

STACK_OF(X509) *http_tls_peer_chain(const struct http_tls *t, gnutls_session_t session,
				    STACK_OF(X509) **presented, char *why, size_t whylen)
{
	unsigned n = 0;
	const gnutls_datum_t *der = gnutls_certificate_get_peers(session, &n);
	STACK_OF(X509) *all = NULL, *untrusted = NULL, *chain = NULL;
	*presented = NULL;
	why[0] = '\0';
	if (der == NULL || n == 0)
		return NULL;
	all = sk_X509_new_null();
	untrusted = sk_X509_new_null();
	if (all == NULL || untrusted == NULL) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	for (unsigned i = 0; i < n && i < 10; i++) {
		const unsigned char *p = der[i].data;
		X509 *x = d2i_X509(NULL, &p, (long)der[i].size);
		if (x == NULL) {
			snprintf(why, whylen, "client certificate %u is not valid DER", i);
			goto out;
		}
		if (!sk_X509_push(all, x)) {
			X509_free(x);
			snprintf(why, whylen, "out of memory");
			goto out;
		}
		if (i > 0 && !sk_X509_push(untrusted, x)) {   /* borrowed from all */
			snprintf(why, whylen, "out of memory");
			goto out;
		}
	}
	chain = http_tls_verify_chain(t, sk_X509_value(all, 0), untrusted, why, whylen);
	*presented = all;
	all = NULL;
out:
	ERR_clear_error();
	sk_X509_free(untrusted);
	sk_X509_pop_free(all, X509_free);
	return chain;
}

void http_tls_subject(X509 *x, char *buf, size_t len)
{
	buf[0] = '\0';
	if (x == NULL || len == 0)
		return;
	BIO *b = BIO_new(BIO_s_mem());
	if (b == NULL)
		return;
	if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		int n = BIO_read(b, buf, (int)len - 1);
		buf[n > 0 ? n : 0] = '\0';
	}
	BIO_free(b);
}
