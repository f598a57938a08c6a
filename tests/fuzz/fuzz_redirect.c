/* libFuzzer: the SAML HTTP-Redirect binding (core/xml_redirect.h).
 * Input: one mode byte, then data. Mode bit 0 clear: data is a query string, parsed (%-decoding,
 * base64, bounded inflate), its signature checked against fixed keys and the inflated message
 * parsed as untrusted XML. Bit 0 set: data is raw DEFLATE for xml_redirect_inflate. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <libxml/parser.h>
#include <openssl/evp.h>
#include "core/xml.h"
#include "core/xml_redirect.h"

static EVP_PKEY *keys[2];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	xmlInitParser();
	keys[0] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	keys[1] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	efos_err e;
	if (size < 1)
		return 0;
	if (data[0] & 1) {
		unsigned char *out = NULL;
		size_t outlen = 0;
		if (xml_redirect_inflate(data + 1, size - 1, 64 * 1024, &out, &outlen, &e) == 0)
			free(out);
		return 0;
	}
	struct xml_redirect_limits lim = { .max_query = 16 * 1024, .max_inflated = 64 * 1024, .max_relay_state = 80 };
	struct xml_redirect_msg m;
	if (xml_redirect_parse((const char *)data + 1, size - 1, &lim, &m, &e) != 0)
		return 0;
	(void)xml_redirect_verify(&m, keys, 2, NULL, &e);
	xmlDocPtr doc = NULL;
	if (xml_parse_untrusted((const char *)m.xml, m.xml_len, NULL, &doc, &e) == 0)
		xmlFreeDoc(doc);
	xml_redirect_msg_free(&m);
	return 0;
}
