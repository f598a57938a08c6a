/* libFuzzer: the OCSP responder's request path (certs/ocsp.h), everything before the database.
 * Input: one mode byte, then data.
 *   bit 0 clear: data is a DER OCSPRequest (the POST body);
 *   bit 0 set:   data is the GET path remainder after "/ocsp/" (certs_ocsp_decode_get: %-decoding,
 *                both base64 alphabets, optional padding), and what it decodes to is answered.
 *   bit 1:       which of two responders answers (see LLVMFuzzerInitialize);
 *   bit 2:       res = NULL (the responder's own result record).
 * The request is answered by certs_ocsp_respond_conn() with no database connection: DER parsing,
 * trailing-byte and CertID-count checks, nonce detection, issuer matching by every supported
 * hash, the one-signer rule, the reuse-cache key and lookup all run; a request that gets as far
 * as the status lookup is answered tryLater. Checked: the answer is always one DER OCSPResponse
 * whose status is the one reported, and nothing crashes, leaks or reads out of bounds.
 *
 * The CA certificates below are the ones the seeds in corpus/fuzz_ocsp_request/ were made for
 * (`openssl ocsp -issuer ca1.pem -cert leaf.pem -reqout ...`; see docs/fuzzing.md), so that
 * seeds reach issuer matching. Their keys are not needed: nothing is signed here. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include "certs/ocsp.h"
#include "certs/service.h"
#include "core/log.h"

/* CN=EFOS Fuzz Card CA (P-256) */
static const char ca1_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIB0DCCAXegAwIBAgIUU2ohfMJv2xjqmYBCV2V3vbU32hUwCgYIKoZIzj0EAwIw\n"
	"PTELMAkGA1UEBhMCU0UxEjAQBgNVBAoMCUVGT1MgRnV6ejEaMBgGA1UEAwwRRUZP\n"
	"UyBGdXp6IENhcmQgQ0EwIBcNMjYxMTI0MDcxMDA1WhgPMjEyNjEwMzEwNzEwMDVa\n"
	"MD0xCzAJBgNVBAYTAlNFMRIwEAYDVQQKDAlFRk9TIEZ1enoxGjAYBgNVBAMMEUVG\n"
	"T1MgRnV6eiBDYXJkIENBMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEDBVQzewQ\n"
	"Oz6xrko8MtlfGaAlBqzhkI/SJKws+wVjkXMOFgkK6AYIACAqcfMvWQBpYBebf7Fs\n"
	"/Ag1/oynV4vGEaNTMFEwHQYDVR0OBBYEFJ+Xcgc5YbFvLA+SKITMy05nzRgSMB8G\n"
	"A1UdIwQYMBaAFJ+Xcgc5YbFvLA+SKITMy05nzRgSMA8GA1UdEwEB/wQFMAMBAf8w\n"
	"CgYIKoZIzj0EAwIDRwAwRAIgGbVQoRRcvyHs0hvRR4mj7yomGNVHRCB1/t/1jYqW\n"
	"w/8CIFjJVOCTzsGcFqeOJY2bCRIVZrVIEEYS3NOAAIMznMyG\n"
	"-----END CERTIFICATE-----\n";
/* CN=EFOS Fuzz Sign CA (RSA-2048) */
static const char ca2_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIDXTCCAkWgAwIBAgIUa1I0WcBnEHlZPLtxPb2JhP3+HoEwDQYJKoZIhvcNAQEL\n"
	"BQAwPTELMAkGA1UEBhMCU0UxEjAQBgNVBAoMCUVGT1MgRnV6ejEaMBgGA1UEAwwR\n"
	"RUZPUyBGdXp6IFNpZ24gQ0EwIBcNMjYxMTI0MDcxMDA1WhgPMjEyNjEwMzEwNzEw\n"
	"MDVaMD0xCzAJBgNVBAYTAlNFMRIwEAYDVQQKDAlFRk9TIEZ1enoxGjAYBgNVBAMM\n"
	"EUVGT1MgRnV6eiBTaWduIENBMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKC\n"
	"AQEAyuFjVHkq8bu8lgvhv+uOvfyHhb2AnAo5EUOxeB6+4HbLz/StXeXrcxWZUYdH\n"
	"dfh52f03+GZksyt1PmNRBp//xqwqqW6Yn3RXpG02LwaOa5Ywr8H2tt2d+ViZhjSm\n"
	"k5zE8TCEKR1oIhanYjzbbzY/AqdO9ny8i3oQkrsaJ3Nh//PC0I+Vt9g0Kkx2316n\n"
	"onkj2smCDR1pLENjyDW4WkyDoY3EMo8hmHuI0yIRnaa3Ox357FuqJpnw67pTNvJH\n"
	"v98X8fvcjA58N059JuI2lkwxNpC0Pblz7ttM6g7hZLiseW+bXiVbVECF2v68t2Jx\n"
	"YjBzVVd2C8X/VpBJPlt7i9RVgwIDAQABo1MwUTAdBgNVHQ4EFgQU8sKkHyYKjYiL\n"
	"RWaXvQHycUkoW78wHwYDVR0jBBgwFoAU8sKkHyYKjYiLRWaXvQHycUkoW78wDwYD\n"
	"VR0TAQH/BAUwAwEB/zANBgkqhkiG9w0BAQsFAAOCAQEAOU2nsGui37ce08ZONmyP\n"
	"BzJmo8xK8BkUSBpuM/CSRGovRp+K6nmYTX3LFn/3/s3g/g6+wXbgCCGcXAseKYjS\n"
	"Z+6EgYU3Eli0s5/0lqpxMD9lYkMTqaq8mQAkLtv2yNHgxLfeA3HUYktoJl6H8MG8\n"
	"4fkDj4AH98AK+tH5NS3GrTQ/3VZzQZqN+BpMA60DOLumX18pY55vL6pPgNmt2PuX\n"
	"WOqtwT99E7SUdzZGlI1iCzj1vmHVlY8aHtKmugq/wYKn5PswnsyXvtBhzWE7ntZN\n"
	"GWZOJoC15bUar0mbSDgtT6SpmZN3DPWT0hRTLgIOBRDXkHsiZ5+qOECHjLc23U43\n"
	"uw==\n"
	"-----END CERTIFICATE-----\n";
/* CN=Not Ours: stands in for a delegated OCSP signer's certificate */
static const char signer_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBfTCCASOgAwIBAgIUTtEIsShWb+6SUi8gKSyEAgjE/4EwCgYIKoZIzj0EAwIw\n"
	"EzERMA8GA1UEAwwITm90IE91cnMwIBcNMjYxMTI0MDcxMDA1WhgPMjEyNjEwMzEw\n"
	"NzEwMDVaMBMxETAPBgNVBAMMCE5vdCBPdXJzMFkwEwYHKoZIzj0CAQYIKoZIzj0D\n"
	"AQcDQgAEeZxoNOw84g0pWGvSBFK23y+/qZfhL1YlpW8NgvUwSgSxofTB/yDubcod\n"
	"XvTyOOPqR3JQT/OaRZvjkoUJUSBFjaNTMFEwHQYDVR0OBBYEFIdJx/2tKYWpErj3\n"
	"qLWwfIG1iTQIMB8GA1UdIwQYMBaAFIdJx/2tKYWpErj3qLWwfIG1iTQIMA8GA1Ud\n"
	"EwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgN0SgUpEIIsDmxSE5rq4Wfon5\n"
	"v20wlRXAJqIpmhyDefMCIQDWQ2ywi2Z3pJldLOmJD3HFohNk1tfqNsnCXIiM0XZ1\n"
	"lg==\n"
	"-----END CERTIFICATE-----\n";

static struct certs_ca cas[2];
static struct certs_ocsp_responder *resp[2];

static X509 *pem_cert(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	if (x == NULL)
		abort();
	return x;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	efos_err e = { 0 };
	log_init("fuzz", LOG_LVL_ERROR);
	X509 *signer_cert = pem_cert(signer_pem);
	EVP_PKEY *key_a = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *key_b = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (key_a == NULL || key_b == NULL)
		abort();
	cas[0] = (struct certs_ca){ .id = 1, .name = "card", .cert = pem_cert(ca1_pem) };
	cas[1] = (struct certs_ca){ .id = 2, .name = "sign", .cert = pem_cert(ca2_pem), .signer = key_b };
	/* resp[0]: both CAs answered by one delegated signer (the one-signer rule lets them share
	 * an answer), reuse cache on. resp[1]: the card CA has no key here (tryLater), the sign CA
	 * signs itself (a request naming both: the card CertID is unknown), no reuse. */
	if (certs_ocsp_responder_new(3600, 60, 64, &resp[0], &e) != 0 ||
	    certs_ocsp_responder_add_ca(resp[0], &cas[0], signer_cert, key_a, &e) != 0 ||
	    certs_ocsp_responder_add_ca(resp[0], &cas[1], signer_cert, key_a, &e) != 0 ||
	    certs_ocsp_responder_new(3600, 0, 0, &resp[1], &e) != 0 ||
	    certs_ocsp_responder_add_ca(resp[1], &cas[0], NULL, NULL, &e) != 0 ||
	    certs_ocsp_responder_add_ca(resp[1], &cas[1], NULL, NULL, &e) != 0)
		abort();
	/* The responders hold their own references. */
	X509_free(signer_cert);
	EVP_PKEY_free(key_a);
	return 0;
}

static void answer(struct certs_ocsp_responder *r, const unsigned char *der, size_t len, bool with_res)
{
	struct certs_ocsp_result res;
	unsigned char *out = NULL;
	size_t out_len = 0;
	bool broken = true;
	efos_err e = { 0 };
	if (certs_ocsp_respond_conn(r, NULL, der, len, &out, &out_len, with_res ? &res : NULL, &broken, &e) != 0)
		abort();   /* only when memory runs out */
	if (out == NULL || out_len == 0 || broken)
		abort();
	const unsigned char *p = out;
	OCSP_RESPONSE *o = d2i_OCSP_RESPONSE(NULL, &p, (long)out_len);
	if (o == NULL || p != out + out_len)
		abort();
	int st = OCSP_response_status(o);
	/* Without a database nothing can be answered successfully (no reused answer is ever
	 * stored here either). */
	if (st == OCSP_RESPONSE_STATUS_SUCCESSFUL || (with_res && st != res.response_status))
		abort();
	OCSP_RESPONSE_free(o);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	struct certs_ocsp_responder *r = resp[(mode >> 1) & 1];
	bool with_res = (mode & 4) == 0;
	data++;
	size--;
	if (!(mode & 1)) {
		answer(r, data, size, with_res);
		return 0;
	}
	/* A URL path holds no NUL: the HTTP layer hands over a C string. */
	char *path = malloc(size + 1);
	if (path == NULL)
		return 0;
	memcpy(path, data, size);
	path[size] = '\0';
	unsigned char *der = NULL;
	size_t len = 0;
	efos_err e = { 0 };
	if (certs_ocsp_decode_get(path, &der, &len, &e) == 0) {
		if (der == NULL || len > CERTS_OCSP_MAX_REQUEST)
			abort();
		answer(r, der, len, with_res);
		free(der);
	} else if (der != NULL) {
		abort();
	}
	free(path);
	return 0;
}
