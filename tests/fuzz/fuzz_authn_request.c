/* libFuzzer: the AuthnRequest intake over HTTP-POST (idp/authn_request.h) and the Swedish
 * extension parsers (SignMessage with EncryptedMessage, SADRequest, PrincipalSelection).
 *
 * Input: one mode byte, then data.
 *   mode & 1 == 0: data is the XML; it is base64-encoded here and given to the intake as the
 *                  SAMLRequest form value, so the fuzzer works on XML, not on base64.
 *   mode & 1 == 1: data is the SAMLRequest form value itself (the base64 decoder is fuzzed).
 *   mode & 2:      the request arrives on the holder-of-key endpoint.
 * The SP is fixed (unsigned requests allowed, so the checks past the signature are reached),
 * the clock is fixed at 2026-01-01T00:00:00Z and the replay cache is a stand-in that accepts
 * everything (no database). Then, whatever the intake said, any samlp:Extensions of the parsed
 * message goes through the extension parsers as if a signature service had sent it (those
 * paths need a signed request otherwise), with a software RSA key for key transport. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/parser.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include "core/xml.h"
#include "idp/authn_request.h"
#include "idp/authn_request_ext.h"

static EVP_PKEY *sp_key, *idp_key;
static EVP_PKEY *sp_keys[1];
static const struct idp_sp_acs acs[] = {
	{ .index = 0, .is_default = true, .is_default_set = true, .binding = IDP_BINDING_POST,
	  .location = "https://sp.example.se/acs" },
	{ .index = 1, .binding = IDP_BINDING_POST, .location = "https://sp.example.se/acs2" },
	{ .index = 2, .binding = IDP_BINDING_ARTIFACT, .location = "https://sp.example.se/art" },
	{ .index = 3, .binding = IDP_BINDING_HOK, .hok_protocol_binding = IDP_BINDING_POST,
	  .location = "https://sp.example.se/hok" },
};
static const char *const ecs[] = {
	"http://id.swedenconnect.se/ec/1.0/loa4-orgid", "http://id.elegnamnden.se/st/1.0/public-sector-sp",
	"http://id.swedenconnect.se/contract/sc/prepaid-auth-2021",
};
static struct idp_sp sp;
static const struct idp_sp *sps[1];

static int accept_all(void *arg, const char *issuer, const char *id, time_t exp, efos_err *e)
{
	return 0;
}

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
		return efos_fail(e, EFOS_E_AUTH, "no");
	memcpy(out, buf, n);
	*outlen = n;
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	xmlInitParser();
	sp_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	idp_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	sp_keys[0] = sp_key;
	sp = (struct idp_sp){
		.entity_id = "https://sp.example.se/sp", .signing_keys = sp_keys, .n_signing_keys = 1,
		.encryption_keys = sp_keys, .n_encryption_keys = 1, .acs = acs, .n_acs = 4,
		.entity_categories = ecs, .n_entity_categories = 3,
	};
	sps[0] = &sp;
	return 0;
}

static const struct idp_intake_params params = {
	.entity_id = "https://idp.efos.se/idp", .clock_skew_s = 60, .max_age_s = 180, .require_signed = false,
	.replay_fn = accept_all, .oaep_fn = sw_oaep, .max_sign_message_bytes = 4096,
};

static void fuzz_extensions(const char *xml, size_t len)
{
	xmlDocPtr doc = NULL;
	efos_err e;
	if (xml_parse_untrusted(xml, len, NULL, &doc, &e) != 0)
		return;
	xmlNodePtr root = xmlDocGetRootElement(doc);
	for (xmlNodePtr c = root ? root->children : NULL; c; c = c->next) {
		struct idp_authn_request out = { .is_sigservice = true, .attr_consuming_index = -1 };
		struct idp_status st = { 0 };
		struct idp_ext_ctx ctx = { .p = &params, .sp = &sp, .issuer = sp.entity_id, .we_declare_scal2 = true };
		if (idp_areq_is_el(c, IDP_NS_SAMLP, "Extensions"))
			(void)idp_areq_parse_extensions(c, &ctx, &out, &st, &e);
		else if (idp_areq_is_el(c, IDP_NS_SAMLP, "RequestedAuthnContext"))
			(void)idp_areq_parse_rac(c, &ctx, &out, &st, &e);
		idp_authn_request_free(&out);
	}
	xmlFreeDoc(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 256 * 1024)
		return 0;
	uint8_t mode = data[0];
	const char *payload = (const char *)data + 1;
	size_t plen = size - 1;
	char *b64 = NULL;
	if (!(mode & 1)) {
		b64 = malloc(4 * ((plen + 2) / 3) + 1);
		if (b64 == NULL)
			return 0;
		EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)payload, (int)plen);
	} else {
		b64 = strndup(payload, plen);
		if (b64 == NULL)
			return 0;
	}
	bool hok = mode & 2;
	struct idp_intake_input in = {
		.binding = IDP_BINDING_POST, .saml_request = b64, .saml_request_len = strlen(b64),
		.relay_state = "rs", .endpoint_url = hok ? "https://mtls.idp.efos.se/idp/hok/sso/post"
							 : "https://idp.efos.se/idp/sso/post",
		.hok = hok, .sps = sps, .n_sps = 1, .now = 1767225600,
	};
	struct idp_authn_request out;
	struct idp_status st;
	efos_err e;
	(void)idp_authn_request_intake(&params, &in, &out, &st, &e);
	idp_authn_request_free(&out);
	free(b64);
	if (!(mode & 1))
		fuzz_extensions(payload, plen);
	return 0;
}
