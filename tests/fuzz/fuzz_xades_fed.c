/* libFuzzer: xades_fed_update() (signer/xades.h), the XAdES part of a federated signing task,
 * whose two inputs come from the requester (ToBeSignedBytes and AdESObjectBytes).
 * Input: the SignedInfo bytes, a NUL byte, then the AdESObject bytes (no NUL: the whole input
 * is taken as SignedInfo and the AdESObject is empty). The signer certificate is a fixed
 * self-signed P-256 certificate made at start-up. Checked: a refusal has a message and no
 * output; an update returns both byte strings, and the new SignedInfo parses again. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/parser.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "core/xml.h"
#include "signer/xades.h"

static X509 *cert;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	xmlInitParser();
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509_NAME *n = X509_NAME_new();
	cert = X509_new();
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"fuzz signer", -1, -1, 0);
	X509_set_version(cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(cert), 4711);
	X509_set_subject_name(cert, n);
	X509_set_issuer_name(cert, n);
	X509_gmtime_adj(X509_getm_notBefore(cert), 0);
	X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
	X509_set_pubkey(cert, k);
	if (k == NULL || X509_sign(cert, k, EVP_sha256()) <= 0)
		abort();
	X509_NAME_free(n);
	EVP_PKEY_free(k);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t si_len = nul ? (size_t)(nul - data) : size;
	const uint8_t *obj = nul ? nul + 1 : data + size;
	size_t obj_len = nul ? size - si_len - 1 : 0;
	unsigned char *nsi = NULL, *nobj = NULL;
	size_t nsi_len = 0, nobj_len = 0;
	efos_err e = { 0 };
	if (xades_fed_update(cert, data, si_len, obj, obj_len, &nsi, &nsi_len, &nobj, &nobj_len, &e) != 0) {
		if (e.msg[0] == '\0' || nsi != NULL || nobj != NULL)
			abort();
		return 0;
	}
	if (nsi == NULL || nobj == NULL || nsi_len == 0 || nobj_len == 0)
		abort();
	xmlDocPtr d = NULL;
	if (xml_parse_untrusted((const char *)nsi, nsi_len, NULL, &d, &e) != 0)
		abort();
	xmlFreeDoc(d);
	free(nsi);
	free(nobj);
	return 0;
}
