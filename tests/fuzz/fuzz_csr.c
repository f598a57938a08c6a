/* libFuzzer: certificate requests as card enrollment and renewal receive them (certs/issue.h).
 * Input: one mode byte, then data.
 *   mode 0: data is a CSR, PEM or DER, exactly as the JSON `csrs` members or `efosctl ca issue
 *           --csr` hand it to certs_csr_parse_verify (which tells PEM from DER);
 *   mode 1: data is a CSR that is first re-signed with a fixed P-256 key (its subject, attributes
 *           and extensions kept), so that mutations get past the proof of possession, which a
 *           fuzzer cannot forge but a real requester always can;
 *   mode 2: data is a DER SubjectPublicKeyInfo: any key a requester holds the private half of
 *           can come in a valid CSR, so the key checks below get it directly.
 * The key of a request that parses and verifies is then held against fixed key policies
 * (certs_key_policy_check: an RSA/EC profile, an RSA-only and an EC-only one, as
 * enroll_begin() and renewal do), compared with a fixed key (EVP_PKEY_eq, the renewal check),
 * and a key the card-auth-like profile accepts is certified in memory by certs_build(), the
 * CSR's own subject text standing in for the registry's values (build_subject's UTF-8 and
 * length checks) and its requested dNSNames for the operator's --dns names (add_san).
 * Checked: the certificate carries exactly the requested key, and nothing crashes, leaks or
 * reads out of bounds. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "certs/issue.h"
#include "certs/profile.h"
#include "certs/service.h"
#include "core/log.h"

static struct cert_profile prof_any = {
	.name = "card-auth", .issuer = "card", .validity_s = 3 * 365 * 86400,
	.subject = { SUBJ_C, SUBJ_O, SUBJ_ORG_IDENTIFIER, SUBJ_GIVEN_NAME, SUBJ_SURNAME, SUBJ_CN,
		     SUBJ_SERIAL_NUMBER, SUBJ_EMAIL },
	.n_subject = 8,
	.subject_optional = { [1] = true, [2] = true, [3] = true, [4] = true, [6] = true, [7] = true },
	.key_usage = X509v3_KU_DIGITAL_SIGNATURE, .key_usage_critical = true,
	.ext_key_usage = { "clientAuth", "1.3.6.1.4.1.311.20.2.2" }, .n_ext_key_usage = 2,
	.policies = { "1.2.752.201.3.1" }, .n_policies = 1,
	.ocsp_url = "http://ocsp.efos.example/ocsp/${issuer}",
	.ca_issuers_url = "http://ca.efos.example/ca/${issuer}.cer",
	.crl_url = "http://ca.efos.example/crl/${issuer}.crl",
	.min_rsa_bits = 2048, .min_ec_bits = 256,
};
static struct cert_profile prof_rsa = { .name = "rsa-only", .min_rsa_bits = 3072 };
static struct cert_profile prof_ec = { .name = "ec-only", .min_ec_bits = 384 };

static struct certs_ca ca;
static EVP_PKEY *other_key;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	efos_err e = { 0 };
	log_init("fuzz", LOG_LVL_ERROR);
	/* The issuing CA: a self-signed P-256 certificate made by certs_build itself. */
	static struct cert_profile prof_root = {
		.name = "root", .issuer = "self", .validity_s = 20L * 365 * 86400, .is_ca = true,
		.path_len = 0, .subject = { SUBJ_C, SUBJ_O, SUBJ_CN }, .n_subject = 3,
		.key_usage = X509v3_KU_KEY_CERT_SIGN | X509v3_KU_CRL_SIGN, .key_usage_critical = true,
		.min_ec_bits = 256,
	};
	ca.id = 1;
	ca.name = "card";
	ca.signer = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	other_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	unsigned char serial[16];
	struct cert_issue_request req = {
		.profile = &prof_root, .public_key = ca.signer,
		.subject = { .c = "SE", .o = "EFOS Fuzz", .cn = "EFOS Fuzz Card CA" },
	};
	struct certs_ca self = { .id = 1, .name = "card", .signer = ca.signer };
	if (ca.signer == NULL || other_key == NULL || certs_serial_random(serial, &e) != 0 ||
	    certs_build(&self, &req, serial, sizeof serial, &ca.cert, &e) != 0)
		abort();
	return 0;
}

/* The CSR's subject's first entry of nid as UTF-8 (malloc'd), or NULL. */
static char *subject_text(X509_REQ *r, int nid)
{
	const X509_NAME *nm = r ? X509_REQ_get_subject_name(r) : NULL;
	int i = nm ? X509_NAME_get_index_by_NID(nm, nid, -1) : -1;
	if (i < 0)
		return NULL;
	unsigned char *u = NULL;
	int n = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(nm, i)));
	if (n < 0)
		return NULL;
	char *s = strndup((const char *)u, (size_t)n);
	OPENSSL_free(u);
	return s;
}

/* What happens to a requested key once the request is accepted. */
static void check_key(EVP_PKEY *key, X509_REQ *r)
{
	efos_err e = { 0 };
	(void)certs_key_policy_check(&prof_rsa, key, &e);
	(void)certs_key_policy_check(&prof_ec, key, &e);
	(void)EVP_PKEY_eq(key, other_key);
	if (certs_key_policy_check(&prof_any, key, &e) != 0)
		return;
	char *cn = subject_text(r, NID_commonName), *o = subject_text(r, NID_organizationName);
	char *sn = subject_text(r, NID_serialNumber), *em = subject_text(r, NID_pkcs9_emailAddress);
	char *gn = subject_text(r, NID_givenName), *c = subject_text(r, NID_countryName);
	/* The dNSName entries of a requested subjectAltName stand in for `efosctl ca issue --dns`. */
	char *dns[8];
	size_t n_dns = 0;
	STACK_OF(X509_EXTENSION) *exts = r ? X509_REQ_get_extensions(r) : NULL;
	GENERAL_NAMES *gens = exts ? X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL) : NULL;
	for (int i = 0; i < sk_GENERAL_NAME_num(gens) && n_dns < 8; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		if (g->type == GEN_DNS &&
		    (dns[n_dns] = strndup((const char *)ASN1_STRING_get0_data(g->d.dNSName),
					  (size_t)ASN1_STRING_length(g->d.dNSName))) != NULL)
			n_dns++;
	}
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	ERR_clear_error();
	struct cert_issue_request req = {
		.profile = &prof_any, .public_key = key,
		.subject = { .c = c, .o = o, .org_identifier = o, .given_name = gn, .surname = gn,
			     .cn = cn ? cn : "fuzz", .serial_number = sn, .email = em },
		.dns_names = (const char *const *)dns, .n_dns_names = n_dns,
	};
	static const unsigned char serial[16] = { 0x40, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
	X509 *x = NULL;
	if (certs_build(&ca, &req, serial, sizeof serial, &x, &e) == 0) {
		if (EVP_PKEY_eq(X509_get0_pubkey(x), key) != 1)
			abort();
		unsigned char *der = NULL;
		if (i2d_X509(x, &der) <= 0)
			abort();
		OPENSSL_free(der);
		X509_free(x);
	}
	free(cn);
	free(o);
	free(sn);
	free(em);
	free(gn);
	free(c);
	for (size_t i = 0; i < n_dns; i++)
		free(dns[i]);
}

/* Mode 1: the request re-signed with other_key (PEM when it came as PEM); NULL when it does
 * not even parse. */
static unsigned char *resign(const uint8_t *data, size_t size, size_t *len)
{
	X509_REQ *r = NULL;
	bool pem = size >= 10 && memmem(data, size, "-----BEGIN", 10) != NULL;
	if (pem) {
		BIO *b = BIO_new_mem_buf(data, (int)size);
		r = b ? PEM_read_bio_X509_REQ(b, NULL, NULL, NULL) : NULL;
		BIO_free(b);
	} else {
		const unsigned char *p = data;
		r = d2i_X509_REQ(NULL, &p, (long)size);
	}
	unsigned char *out = NULL;
	if (r != NULL && X509_REQ_set_pubkey(r, other_key) && X509_REQ_sign(r, other_key, EVP_sha256()) > 0) {
		if (pem) {
			BIO *b = BIO_new(BIO_s_mem());
			char *mem = NULL;
			long n = 0;
			if (b != NULL && PEM_write_bio_X509_REQ(b, r) && (n = BIO_get_mem_data(b, &mem)) > 0 &&
			    (out = malloc((size_t)n)) != NULL) {
				memcpy(out, mem, (size_t)n);
				*len = (size_t)n;
			}
			BIO_free(b);
		} else {
			int n = i2d_X509_REQ(r, &out);
			if (n > 0)
				*len = (size_t)n;
			else
				out = NULL;
		}
	}
	X509_REQ_free(r);
	ERR_clear_error();
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	efos_err e = { 0 };
	if (size < 1)
		return 0;
	uint8_t mode = data[0] % 3;
	data++;
	size--;
	if (mode == 2) {
		const unsigned char *p = data;
		EVP_PKEY *key = d2i_PUBKEY(NULL, &p, (long)size);
		ERR_clear_error();
		if (key != NULL)
			check_key(key, NULL);
		EVP_PKEY_free(key);
		return 0;
	}
	unsigned char *copy = NULL;
	if (mode == 1) {
		if ((copy = resign(data, size, &size)) == NULL)
			return 0;
		data = copy;
	}
	X509_REQ *r = NULL;
	if (certs_csr_parse_verify(data, size, &r, &e) != 0) {
		if (r != NULL)
			abort();
		free(copy);
		return 0;
	}
	EVP_PKEY *key = X509_REQ_get0_pubkey(r);
	if (key == NULL)
		abort();   /* certs_csr_parse_verify promised a decodable key */
	check_key(key, r);
	X509_REQ_free(r);
	free(copy);
	return 0;
}
