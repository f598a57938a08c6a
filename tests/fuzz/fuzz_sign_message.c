/* libFuzzer: the Swedish AuthnRequest extensions on their own (idp/authn_request_ext.h:
 * idp_areq_parse_extensions), above all csig:SignMessage with an EncryptedMessage: XML
 * Encryption key transport (rsa-oaep-mgf1p, SHA-1..512 digests, the EncryptedKey in KeyInfo or
 * beside EncryptedData), AES-CBC and AES-GCM decryption and the parse of the decrypted
 * csig:Message. fuzz_authn_request reaches the same parser but with a key made at start-up, so
 * no input of its can be decrypted; here the IdP's key is the fixed test key below, which the
 * enc_* seeds are encrypted to, so mutations get past the decryption.
 *
 * Input: one mode byte, then an XML document whose root element is taken as samlp:Extensions
 * (its children: SignMessage, SADRequest, PrincipalSelection, anything else ignored).
 *   mode & 1: the requester is NOT a signature service (SignMessage and SADRequest refused).
 *   mode & 2: max_sign_message_bytes = 64 (the default 64 KiB otherwise).
 *   mode & 4: no key transport configured (oaep_fn NULL).
 *   mode & 8: we do not declare scal2 (SADRequest ignored).
 * Checked: a refusal (IDP_INTAKE_ANSWERABLE) has a message; an accepted SignMessage is at most
 * max_sign_message_bytes, NUL-terminated, and flagged encrypted only with key transport on.
 * FUZZ_SIGN_MESSAGE_VERBOSE=1 prints one line per input (seed checks). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/parser.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include "core/log.h"
#include "core/xml.h"
#include "idp/authn_request.h"
#include "idp/authn_request_ext.h"

/* Test only: the IdP's encryption key the tests/fuzz/corpus/fuzz_sign_message/enc_* seeds are
 * encrypted to (docs/fuzzing.md, Seeds). Never used outside this target. */
static const char IDP_KEY[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCnXGkv0O8l0et4\n"
	"Iic1NCPziPGiV17riYJArlFtbXLgWznXdDeNqxenQ+PO7e1Hy5p6Q3eEu3bXHNf6\n"
	"sWVZ94z+JkorQd+hxfl5r2stNZ/p9LG4CdnenLWgs9MGFtVx3yqHbxyE2FC88C5e\n"
	"8U79+wHcuGx+P5wDZ7yQbSQf6tEZhgSCNAJOiCGqq2/XqJYX+a/emoQXBKnltIZw\n"
	"VdDhjy0ZzJoOQfF3W17stTtmahxI/P1rIlxh+TBBqNnh+xFoElCbPKM9TCg6Btoj\n"
	"w5vohsoIZDFPflTu78q8/g4z7bNZXlkV/nr7EXGQ8fhW8p49+l8TrNumLlYh/pI5\n"
	"G/HJzx5HAgMBAAECggEAOZfiltLmyXQQ/Tl7lqKH0LIKvVwlzRZ4HXwfh3HHu4+J\n"
	"OyzCRV1geW4ygi58nl1hnruC8Ml2XxaM+Ld9clVvTrKsiXBU3h37+TU1w8wVaPSN\n"
	"CBFTyXjSRCg98XWAJHyw7QR+ovSx7CMXQhL2pQ5xGJzasSOAs+dKC8WTTeyH4qke\n"
	"cVXuuZzW2QjFuj9fO5Oo2eBU7bwsaGTVn2wp4as6ExwXwgbFEXIbMbaM/7H/i64c\n"
	"Jw5AgXgrdDyd1LC2IgaXd+Hm5Z0A8yFfB1rocStsrXVV1P+X/gUl3qfemBzCOQqq\n"
	"TrLksIPuq7i8MQsyB2TVmZ8nTusqtsMowOguIQF/cQKBgQDVpQMgAAwc0BrYO/OR\n"
	"vlbE/zvAmEDlRawOeVVnoUi6SZdVLpIaZN8kpVo+TcjzevMQojGaKfJW5ZQHvAVH\n"
	"1HECrSfQb6MQjCT76sR0YXtoCH4ClMR9XB5ktDGktE8PkLxc3/GtoAtddQiZFgls\n"
	"9uIqIWVQJyUaI1tg/CivPW5PyQKBgQDIimRn21Jd5IvzzRgmyi7kxVzkmBONix8o\n"
	"vjb7xa7HX+7cK6F1EJxAxgkyQv3cUFddFxlgrrpvSnyF8f0n/2N+DZOGuQxUB/uz\n"
	"gwR93741dZ7iI+CMmrGpjXYHIW+khhgfc7TiSyjGzRALyrgwcUD9vboZs4SUNFRO\n"
	"3/mAq6SljwKBgDot+J7jRGkoRtcx5E+BLPHyq5v0GmAVTBiY9CgHZN3OIpcA2qqz\n"
	"Y40ANoYW+q1Lgxu5f5aC68q8NEay7iE0eh4Hd3ssm5RrBbtQoHUtAsU+4snjJ2sY\n"
	"BfLYm1hF/e24NYN5PMBSgCXQNCo0NRbmWIquk39zWYg3rq/Hm3C1Yu/5AoGAYWU9\n"
	"MGeHUEyQX/7qzOQC9F6aJ/dn/6Vio7IGGC9BHFmOM2YJS0ae7KKBkuSQUHDAjViL\n"
	"nbYem7BsW81UKxnQ40aKsLKstx8NcnieNNf2lBYk7SWJiCAVSwiGGx51D02E57mV\n"
	"TxY7npm3QlLZM8W9T77WZGcYa7YigBAtJ/20wCcCgYBmYtQ0pIqu9dNUnRfSls0j\n"
	"dDnfJ8hUk2mqUQJCGOALBj3JHpH/xr66l0dl8DR+rJodV88+1LiD6D9aNs8B4mII\n"
	"2h61On88Qj1gF8edTbQAm0pX0k03kdehyYcqcOdqHQltOmCbeD4BW3hRBZs/ExiM\n"
	"teFmoR29dtNlz/oJ6HvqBA==\n"
	"-----END PRIVATE KEY-----\n";

static EVP_PKEY *idp_key;
static bool verbose;
static struct idp_sp sp;

static int sw_oaep(void *arg, const EVP_MD *oaep_md, const EVP_MD *mgf1_md, const unsigned char *in, size_t inlen,
		   unsigned char *out, size_t outcap, size_t *outlen, efos_err *e)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(idp_key, NULL);
	unsigned char buf[512];
	size_t n = sizeof buf;
	int ok = c && EVP_PKEY_decrypt_init(c) > 0 && EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) > 0 &&
		 EVP_PKEY_CTX_set_rsa_oaep_md(c, oaep_md) > 0 && EVP_PKEY_CTX_set_rsa_mgf1_md(c, mgf1_md) > 0 &&
		 EVP_PKEY_decrypt(c, buf, &n, in, inlen) > 0 && n <= outcap;
	EVP_PKEY_CTX_free(c);
	if (!ok)
		return efos_fail(e, EFOS_E_AUTH, "OAEP decryption failed");
	memcpy(out, buf, n);
	*outlen = n;
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init("fuzz", LOG_LVL_ERROR);
	verbose = getenv("FUZZ_SIGN_MESSAGE_VERBOSE") != NULL;
	xmlInitParser();
	BIO *bio = BIO_new_mem_buf(IDP_KEY, -1);
	idp_key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (idp_key == NULL)
		abort();
	sp = (struct idp_sp){ .entity_id = "https://sp.example.se/sp" };
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 256 * 1024)
		return 0;
	uint8_t mode = data[0];
	struct idp_intake_params p = {
		.entity_id = "https://idp.efos.se/idp", .clock_skew_s = 60, .max_age_s = 180,
		.max_sign_message_bytes = (mode & 2) ? 64 : 0, .oaep_fn = (mode & 4) ? NULL : sw_oaep,
	};
	size_t max_msg = p.max_sign_message_bytes ? p.max_sign_message_bytes : IDP_SIGN_MESSAGE_MAX_BYTES;
	xmlDocPtr doc = NULL;
	efos_err e;
	memset(&e, 0, sizeof e);
	if (xml_parse_untrusted((const char *)data + 1, size - 1, NULL, &doc, &e) != 0)
		return 0;
	xmlNodePtr root = xmlDocGetRootElement(doc);
	if (root != NULL) {
		struct idp_authn_request out;
		memset(&out, 0, sizeof out);
		out.is_sigservice = !(mode & 1);
		out.attr_consuming_index = -1;
		struct idp_status st;
		memset(&st, 0, sizeof st);
		struct idp_ext_ctx ctx = { .p = &p, .sp = &sp, .issuer = sp.entity_id, .we_declare_scal2 = !(mode & 8) };
		int rc = idp_areq_parse_extensions(root, &ctx, &out, &st, &e);
		if (verbose)
			fprintf(stderr, "rc=%d sign_message=%d encrypted=%d len=%zu sad=%d %s\n", rc, out.has_sign_message,
				out.sign_message_encrypted, out.sign_message_len, out.sad_requested,
				rc == IDP_INTAKE_ANSWERABLE ? st.message : rc ? e.msg : "");
		if (rc == IDP_INTAKE_ANSWERABLE && st.message[0] == '\0')
			abort();   /* a refusal says why */
		if (rc == 0 && out.has_sign_message) {
			if (out.sign_message == NULL || out.sign_message_len > max_msg ||
			    out.sign_message[out.sign_message_len] != '\0')
				abort();
			if (out.sign_message_encrypted && p.oaep_fn == NULL)
				abort();
		}
		idp_authn_request_free(&out);
	}
	xmlFreeDoc(doc);
	return 0;
}
