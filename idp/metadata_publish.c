/* The IdP's signed metadata (see metadata_publish.h and docs/idp-metadata.md).
 *
 * The document is built with libxml2's tree API (so every value is escaped by the library),
 * serialised indented for people to read, parsed back, and then signed: the signature covers
 * the indented bytes that are served. The one private-key operation goes to the HSM through
 * hsm_xmldsig_sign(); the metadata certificate's base64 is written into KeyInfo once, here. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/valid.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include "core/config.h"
#include "core/ctx.h"
#include "core/db.h"
#include "core/log.h"
#include "core/xml_c14n.h"
#include "hsm/bridge.h"
#include "hsm/hsm.h"
#include "idp/metadata_publish.h"
#include "policy/loa.h"

#define NS_MD      "urn:oasis:names:tc:SAML:2.0:metadata"
#define NS_SAML    "urn:oasis:names:tc:SAML:2.0:assertion"
#define NS_MDATTR  "urn:oasis:names:tc:SAML:metadata:attribute"
#define NS_MDUI    "urn:oasis:names:tc:SAML:metadata:ui"
#define NS_ALG     "urn:oasis:names:tc:SAML:metadata:algsupport"
#define NS_SHIBMD  "urn:mace:shibboleth:metadata:1.0"
#define NS_PSC     "http://id.swedenconnect.se/authn/1.0/principal-selection/ns"
#define NS_HOKSSO  "urn:oasis:names:tc:SAML:2.0:profiles:holder-of-key:SSO:browser"
#define NS_MDORGEXT "http://id.swedenconnect.se/authn/1.0/md-org-ext/ns"
#define NS_XML     "http://www.w3.org/XML/1998/namespace"

#define ATTRNAME_URI   "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
#define PROTOCOL_SAML2 "urn:oasis:names:tc:SAML:2.0:protocol"
#define BINDING_REDIRECT "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
#define BINDING_POST     "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
#define BINDING_HOK      NS_HOKSSO
#define NAMEID_PERSISTENT "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
#define NAMEID_TRANSIENT  "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"

#define ALG_SHA256 "http://www.w3.org/2001/04/xmlenc#sha256"
#define ALG_RSA_SHA256 "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
#define ALG_ECDSA_SHA256 "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"

/* What we accept in signatures (the allow-list of core/xml_alg.c), in order of preference.
 * Declared at the EntityDescriptor level: the Algorithm Support profile places alg:DigestMethod
 * and alg:SigningMethod in the md:Extensions of the md:EntityDescriptor. */
static const char *const digest_methods[] = {
	"http://www.w3.org/2001/04/xmlenc#sha256",
	"http://www.w3.org/2001/04/xmldsig-more#sha384",
	"http://www.w3.org/2001/04/xmlenc#sha512",
};
static const struct { const char *uri; int min_bits; } signing_methods[] = {
	{ "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", 2048 },
	{ "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384", 2048 },
	{ "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512", 2048 },
	{ "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1", 2048 },
	{ "http://www.w3.org/2007/05/xmldsig-more#sha384-rsa-MGF1", 2048 },
	{ "http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1", 2048 },
	{ "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256", 256 },
	{ "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384", 256 },
	{ "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512", 256 },
};
/* Messages encrypted to us (an encrypted SignMessage): GCM preferred, CBC mandatory, no
 * AES-192 (DESIGN: interop), OAEP key transport. */
static const char *const encryption_methods[] = {
	"http://www.w3.org/2009/xmlenc11#aes256-gcm",
	"http://www.w3.org/2009/xmlenc11#aes128-gcm",
	"http://www.w3.org/2001/04/xmlenc#aes256-cbc",
	"http://www.w3.org/2001/04/xmlenc#aes128-cbc",
	"http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
	"http://www.w3.org/2009/xmlenc11#rsa-oaep",
};
/* The service entity categories, service property and contract this IdP delivers (§4, §9.1):
 * each -orgid/-pnr needs -name; loa4-* needs loa4 in assurance-certification. */
static const char *const entity_categories[] = {
	IDP_EC_LOA4_ORGID,
	IDP_EC_LOA4_PNR,
	IDP_EC_LOA4_NAME,
	IDP_SPROP_SCAL2,
	IDP_CONTRACT_PREPAID_AUTH_2021,
};

void idp_md_format_time(time_t t, char *buf, size_t cap)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- building ----------------------------------------------------------------------------- */

struct builder {
	xmlDocPtr doc;
	xmlNsPtr md, ds, saml, mdattr, mdui, alg, shibmd, psc, hoksso, mdorgext, xml;
	bool oom;
};

static xmlNodePtr el(struct builder *b, xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *text)
{
	if (b->oom)
		return NULL;
	xmlNodePtr n = xmlNewDocNode(b->doc, ns, BAD_CAST name, NULL);
	if (n == NULL) {
		b->oom = true;
		return NULL;
	}
	if (text != NULL) {
		xmlNodePtr t = xmlNewDocText(b->doc, BAD_CAST text);   /* escaped on output */
		if (t == NULL || xmlAddChild(n, t) == NULL) {
			xmlFreeNode(t);
			xmlFreeNode(n);
			b->oom = true;
			return NULL;
		}
	}
	if (parent != NULL && xmlAddChild(parent, n) == NULL) {
		xmlFreeNode(n);
		b->oom = true;
		return NULL;
	}
	return n;
}

static void attr(struct builder *b, xmlNodePtr n, const char *name, const char *value)
{
	if (n != NULL && !b->oom && xmlNewProp(n, BAD_CAST name, BAD_CAST value) == NULL)
		b->oom = true;
}

static void attr_ns(struct builder *b, xmlNodePtr n, xmlNsPtr ns, const char *name, const char *value)
{
	if (n != NULL && !b->oom && xmlNewNsProp(n, ns, BAD_CAST name, BAD_CAST value) == NULL)
		b->oom = true;
}

static void lang_el(struct builder *b, xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *lang,
		    const char *text)
{
	xmlNodePtr n = el(b, parent, ns, name, text);
	attr_ns(b, n, b->xml, "lang", lang);
}

/* The certificate as the base64 of its DER, in lines of 64 (as PEM bodies are). */
static char *cert_base64(X509 *cert)
{
	unsigned char *der = NULL;
	int dlen = i2d_X509(cert, &der);
	if (dlen <= 0)
		return NULL;
	size_t blen = 4 * (((size_t)dlen + 2) / 3);
	char *flat = malloc(blen + 1);
	char *out = malloc(blen + blen / 64 + 3);
	if (flat != NULL && out != NULL) {
		EVP_EncodeBlock((unsigned char *)flat, der, dlen);
		size_t o = 0;
		out[o++] = '\n';
		for (size_t i = 0; i < blen; i += 64) {
			size_t n = blen - i < 64 ? blen - i : 64;
			memcpy(out + o, flat + i, n);
			o += n;
			out[o++] = '\n';
		}
		out[o] = '\0';
	} else {
		free(out);
		out = NULL;
	}
	free(flat);
	OPENSSL_free(der);
	return out;
}

static void key_info(struct builder *b, xmlNodePtr parent, X509 *cert)
{
	char *b64 = cert_base64(cert);
	if (b64 == NULL) {
		b->oom = true;
		return;
	}
	xmlNodePtr ki = el(b, parent, b->ds, "KeyInfo", NULL);
	xmlNodePtr xd = el(b, ki, b->ds, "X509Data", NULL);
	el(b, xd, b->ds, "X509Certificate", b64);
	free(b64);
}

static void key_descriptor(struct builder *b, xmlNodePtr role, const char *use, X509 *cert, bool enc_methods)
{
	xmlNodePtr kd = el(b, role, b->md, "KeyDescriptor", NULL);
	attr(b, kd, "use", use);
	key_info(b, kd, cert);
	if (enc_methods)
		for (size_t i = 0; i < sizeof encryption_methods / sizeof encryption_methods[0]; i++)
			attr(b, el(b, kd, b->md, "EncryptionMethod", NULL), "Algorithm", encryption_methods[i]);
}

static void entity_attribute(struct builder *b, xmlNodePtr ea, const char *name, const char *const *values, size_t n)
{
	xmlNodePtr a = el(b, ea, b->saml, "Attribute", NULL);
	attr(b, a, "Name", name);
	attr(b, a, "NameFormat", ATTRNAME_URI);
	for (size_t i = 0; i < n; i++)
		el(b, a, b->saml, "AttributeValue", values[i]);
}

static void sso_service(struct builder *b, xmlNodePtr idp, const char *binding, const char *hok_binding,
			const char *base, const char *path)
{
	char loc[1024];
	snprintf(loc, sizeof loc, "%s%s", base, path);
	xmlNodePtr s = el(b, idp, b->md, "SingleSignOnService", NULL);
	attr(b, s, "Binding", binding);
	if (hok_binding != NULL)
		attr_ns(b, s, b->hoksso, "ProtocolBinding", hok_binding);
	attr(b, s, "Location", loc);
}

static void contact(struct builder *b, xmlNodePtr ed, const char *type, const char *company, const char *email)
{
	char mail[512];
	snprintf(mail, sizeof mail, "%s%s", strncmp(email, "mailto:", 7) == 0 ? "" : "mailto:", email);
	xmlNodePtr c = el(b, ed, b->md, "ContactPerson", NULL);
	attr(b, c, "contactType", type);
	if (company != NULL)
		el(b, c, b->md, "Company", company);
	el(b, c, b->md, "EmailAddress", mail);
}

static int random_id(char *buf, size_t cap)
{
	unsigned char r[16];
	if (RAND_bytes(r, sizeof r) != 1 || cap < 2 + 2 * sizeof r)
		return -1;
	buf[0] = '_';
	for (size_t i = 0; i < sizeof r; i++)
		snprintf(buf + 1 + 2 * i, 3, "%02x", r[i]);
	return 0;
}

/* The unsigned EntityDescriptor. */
static xmlDocPtr build_doc(const struct idp_md_info *in, time_t now, const char *id, efos_err *e)
{
	struct builder b = { 0 };
	char t[64], dur[32];
	b.doc = xmlNewDoc(BAD_CAST "1.0");
	if (b.doc == NULL)
		goto oom;
	xmlNodePtr ed = xmlNewDocNode(b.doc, NULL, BAD_CAST "EntityDescriptor", NULL);
	if (ed == NULL)
		goto oom;
	xmlDocSetRootElement(b.doc, ed);
	b.md = xmlNewNs(ed, BAD_CAST NS_MD, BAD_CAST "md");
	b.ds = xmlNewNs(ed, BAD_CAST XML_NS_DSIG, BAD_CAST "ds");
	b.saml = xmlNewNs(ed, BAD_CAST NS_SAML, BAD_CAST "saml");
	b.mdattr = xmlNewNs(ed, BAD_CAST NS_MDATTR, BAD_CAST "mdattr");
	b.mdui = xmlNewNs(ed, BAD_CAST NS_MDUI, BAD_CAST "mdui");
	b.alg = xmlNewNs(ed, BAD_CAST NS_ALG, BAD_CAST "alg");
	b.shibmd = xmlNewNs(ed, BAD_CAST NS_SHIBMD, BAD_CAST "shibmd");
	b.psc = xmlNewNs(ed, BAD_CAST NS_PSC, BAD_CAST "psc");
	b.hoksso = xmlNewNs(ed, BAD_CAST NS_HOKSSO, BAD_CAST "hoksso");
	if (in->org_number != NULL)
		b.mdorgext = xmlNewNs(ed, BAD_CAST NS_MDORGEXT, BAD_CAST "mdorgext");
	b.xml = xmlSearchNsByHref(b.doc, ed, BAD_CAST NS_XML);
	if (b.md == NULL || b.ds == NULL || b.saml == NULL || b.mdattr == NULL || b.mdui == NULL ||
	    b.alg == NULL || b.shibmd == NULL || b.psc == NULL || b.hoksso == NULL || b.xml == NULL ||
	    (in->org_number != NULL && b.mdorgext == NULL))
		goto oom;
	xmlSetNs(ed, b.md);

	idp_md_format_time(now + in->validity_s, t, sizeof t);
	snprintf(dur, sizeof dur, "PT%ldS", in->cache_duration_s);
	attr(&b, ed, "entityID", in->entity_id);
	attr(&b, ed, "ID", id);
	attr(&b, ed, "validUntil", t);
	attr(&b, ed, "cacheDuration", dur);

	/* EntityDescriptor/Extensions: entity attributes, algorithm support */
	xmlNodePtr ext = el(&b, ed, b.md, "Extensions", NULL);
	xmlNodePtr ea = el(&b, ext, b.mdattr, "EntityAttributes", NULL);
	static const char *const loas[] = { LOA_URI_LOA4 };
	if (in->sp_acs_url != NULL) {
		entity_attribute(&b, ea, IDP_ATTR_ENTITY_CATEGORY, in->sp_entity_categories,
				 in->n_sp_entity_categories);
	} else {
		entity_attribute(&b, ea, IDP_ATTR_ASSURANCE_CERTIFICATION, loas, 1);
		entity_attribute(&b, ea, IDP_ATTR_ENTITY_CATEGORY, entity_categories,
				 sizeof entity_categories / sizeof entity_categories[0]);
	}
	for (size_t i = 0; i < sizeof digest_methods / sizeof digest_methods[0]; i++)
		attr(&b, el(&b, ext, b.alg, "DigestMethod", NULL), "Algorithm", digest_methods[i]);
	for (size_t i = 0; i < sizeof signing_methods / sizeof signing_methods[0]; i++) {
		char bits[16];
		snprintf(bits, sizeof bits, "%d", signing_methods[i].min_bits);
		xmlNodePtr sm = el(&b, ext, b.alg, "SigningMethod", NULL);
		attr(&b, sm, "Algorithm", signing_methods[i].uri);
		attr(&b, sm, "MinKeySize", bits);
	}

	/* IDPSSODescriptor, or the SPSSODescriptor of the signing service */
	bool sp = in->sp_acs_url != NULL;
	xmlNodePtr idp = el(&b, ed, b.md, sp ? "SPSSODescriptor" : "IDPSSODescriptor", NULL);
	if (sp) {
		attr(&b, idp, "AuthnRequestsSigned", "true");
		attr(&b, idp, "WantAssertionsSigned", "true");
	}
	attr(&b, idp, "protocolSupportEnumeration", PROTOCOL_SAML2);
	if (!sp)
		attr(&b, idp, "WantAuthnRequestsSigned", in->want_authn_requests_signed ? "true" : "false");
	xmlNodePtr iext = el(&b, idp, b.md, "Extensions", NULL);
	xmlNodePtr ui = el(&b, iext, b.mdui, "UIInfo", NULL);
	lang_el(&b, ui, b.mdui, "DisplayName", "sv", in->display_name_sv);
	if (in->display_name_en != NULL)
		lang_el(&b, ui, b.mdui, "DisplayName", "en", in->display_name_en);
	if (in->description_sv != NULL)
		lang_el(&b, ui, b.mdui, "Description", "sv", in->description_sv);
	if (in->description_en != NULL)
		lang_el(&b, ui, b.mdui, "Description", "en", in->description_en);
	if (in->logo_url != NULL) {
		char wh[16];
		xmlNodePtr logo = el(&b, ui, b.mdui, "Logo", in->logo_url);
		snprintf(wh, sizeof wh, "%d", in->logo_height);
		attr(&b, logo, "height", wh);
		snprintf(wh, sizeof wh, "%d", in->logo_width);
		attr(&b, logo, "width", wh);
	}
	for (size_t i = 0; !sp && i < in->n_scopes; i++)
		attr(&b, el(&b, iext, b.shibmd, "Scope", in->scopes[i]), "regexp", "false");
	if (!sp && in->n_principal_selection > 0) {
		xmlNodePtr rps = el(&b, iext, b.psc, "RequestedPrincipalSelection", NULL);
		for (size_t i = 0; i < in->n_principal_selection; i++)
			attr(&b, el(&b, rps, b.psc, "MatchValue", NULL), "Name", in->principal_selection[i]);
	}
	key_descriptor(&b, idp, "signing", in->signing_cert, false);
	if (in->signing_cert_next != NULL)
		key_descriptor(&b, idp, "signing", in->signing_cert_next, false);
	if (in->encryption_cert != NULL)
		key_descriptor(&b, idp, "encryption", in->encryption_cert, true);
	el(&b, idp, b.md, "NameIDFormat", NAMEID_PERSISTENT);
	if (sp) {
		xmlNodePtr acs = el(&b, idp, b.md, "AssertionConsumerService", NULL);
		attr(&b, acs, "Binding", BINDING_POST);
		attr(&b, acs, "Location", in->sp_acs_url);
		attr(&b, acs, "index", "0");
		attr(&b, acs, "isDefault", "true");
	} else {
		el(&b, idp, b.md, "NameIDFormat", NAMEID_TRANSIENT);
		sso_service(&b, idp, BINDING_REDIRECT, NULL, in->public_url, IDP_PATH_SSO_REDIRECT);
		sso_service(&b, idp, BINDING_POST, NULL, in->public_url, IDP_PATH_SSO_POST);
	}
	if (!sp && in->mtls_public_url != NULL) {
		sso_service(&b, idp, BINDING_HOK, BINDING_REDIRECT, in->mtls_public_url, IDP_PATH_HOK_SSO_REDIRECT);
		sso_service(&b, idp, BINDING_HOK, BINDING_POST, in->mtls_public_url, IDP_PATH_HOK_SSO_POST);
	}

	/* Organization, ContactPerson */
	xmlNodePtr org = el(&b, ed, b.md, "Organization", NULL);
	if (in->org_number != NULL)
		el(&b, el(&b, org, b.md, "Extensions", NULL), b.mdorgext, "OrganizationNumber", in->org_number);
	lang_el(&b, org, b.md, "OrganizationName", "sv", in->org_name);
	lang_el(&b, org, b.md, "OrganizationName", "en", in->org_name);
	lang_el(&b, org, b.md, "OrganizationDisplayName", "sv", in->org_display_name_sv);
	lang_el(&b, org, b.md, "OrganizationDisplayName", "en", in->org_display_name_en);
	lang_el(&b, org, b.md, "OrganizationURL", "sv", in->org_url);
	lang_el(&b, org, b.md, "OrganizationURL", "en", in->org_url);
	if (in->contact_technical != NULL)
		contact(&b, ed, "technical", in->org_display_name_sv, in->contact_technical);
	if (in->contact_support != NULL)
		contact(&b, ed, "support", in->org_display_name_sv, in->contact_support);
	if (b.oom)
		goto oom;
	return b.doc;
oom:
	xmlFreeDoc(b.doc);
	efos_fail(e, EFOS_E_INTERNAL, "out of memory building the IdP metadata");
	return NULL;
}

/* The enveloped-signature template, first child of the EntityDescriptor (the schema's place
 * for ds:Signature), with the metadata certificate in KeyInfo. */
static xmlNodePtr add_signature_template(xmlDocPtr doc, const char *id, const char *sig_alg, X509 *cert,
					 efos_err *e)
{
	xmlNodePtr ed = xmlDocGetRootElement(doc);
	struct builder b = { .doc = doc };
	b.ds = xmlSearchNsByHref(doc, ed, BAD_CAST XML_NS_DSIG);
	char ref[80];
	snprintf(ref, sizeof ref, "#%s", id);

	xmlNodePtr sig = el(&b, NULL, b.ds, "Signature", NULL);
	xmlNodePtr si = el(&b, sig, b.ds, "SignedInfo", NULL);
	attr(&b, el(&b, si, b.ds, "CanonicalizationMethod", NULL), "Algorithm", XML_ALG_EXC_C14N);
	attr(&b, el(&b, si, b.ds, "SignatureMethod", NULL), "Algorithm", sig_alg);
	xmlNodePtr r = el(&b, si, b.ds, "Reference", NULL);
	attr(&b, r, "URI", ref);
	xmlNodePtr tr = el(&b, r, b.ds, "Transforms", NULL);
	attr(&b, el(&b, tr, b.ds, "Transform", NULL), "Algorithm", XML_ALG_ENVELOPED);
	attr(&b, el(&b, tr, b.ds, "Transform", NULL), "Algorithm", XML_ALG_EXC_C14N);
	attr(&b, el(&b, r, b.ds, "DigestMethod", NULL), "Algorithm", ALG_SHA256);
	el(&b, r, b.ds, "DigestValue", NULL);
	el(&b, sig, b.ds, "SignatureValue", NULL);
	key_info(&b, sig, cert);
	if (b.ds == NULL || b.oom) {
		xmlFreeNode(sig);
		efos_fail(e, EFOS_E_INTERNAL, "out of memory building the metadata signature");
		return NULL;
	}
	xmlNodePtr first = xmlFirstElementChild(ed);
	if (first != NULL)
		xmlAddPrevSibling(first, sig);
	else
		xmlAddChild(ed, sig);
	return sig;
}

int idp_md_build_signed(const struct idp_md_info *in, time_t now, struct hsm_key *key, X509 *key_cert,
			char **xml, size_t *len, efos_err *e)
{
	xmlDocPtr doc = NULL, signed_doc = NULL;
	xmlChar *pretty = NULL, *out = NULL;
	int plen = 0, olen = 0, ret = -1;
	char id[40];

	*xml = NULL;
	if (in->entity_id == NULL || in->public_url == NULL || in->signing_cert == NULL ||
	    in->display_name_sv == NULL || in->org_name == NULL || in->org_display_name_sv == NULL ||
	    in->org_display_name_en == NULL || in->org_url == NULL)
		return efos_fail(e, EFOS_E_CONFIG, "IdP metadata: entity ID, public URL, signing certificate, "
				 "display name (sv) and organisation name, display names and URL are required");
	if (random_id(id, sizeof id) < 0)
		return efos_fail(e, EFOS_E_INTERNAL, "IdP metadata: no random bytes for the ID");
	if ((doc = build_doc(in, now, id, e)) == NULL)
		return -1;

	/* Indented for people; parsed back so that what is signed is exactly what is served. */
	xmlDocDumpFormatMemoryEnc(doc, &pretty, &plen, "UTF-8", 1);
	if (pretty == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "IdP metadata: serialisation failed");
		goto out;
	}
	signed_doc = xmlReadMemory((const char *)pretty, plen, "idp.xml", "UTF-8", XML_PARSE_NONET);
	if (signed_doc == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "IdP metadata: cannot parse our own document");
		goto out;
	}
	xmlNodePtr ed = xmlDocGetRootElement(signed_doc);
	xmlAttrPtr ida = xmlHasProp(ed, BAD_CAST "ID");
	if (ida == NULL || xmlAddID(NULL, signed_doc, BAD_CAST id, ida) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "IdP metadata: cannot register the ID");
		goto out;
	}
	const char *sig_alg = hsm_key_kind(key) == HSM_KEY_EC ? ALG_ECDSA_SHA256 : ALG_RSA_SHA256;
	xmlNodePtr sig = add_signature_template(signed_doc, id, sig_alg, key_cert, e);
	if (sig == NULL)
		goto out;
	if (hsm_xmldsig_sign(sig, key, e) != 0) {
		efos_wrap(e, "signing the IdP metadata");
		goto out;
	}
	xmlDocDumpMemoryEnc(signed_doc, &out, &olen, "UTF-8");
	if (out == NULL || olen <= 0) {
		efos_fail(e, EFOS_E_INTERNAL, "IdP metadata: serialisation failed");
		goto out;
	}
	if ((*xml = malloc((size_t)olen + 1)) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	memcpy(*xml, out, (size_t)olen);
	(*xml)[olen] = '\0';
	*len = (size_t)olen;
	ret = 0;
out:
	xmlFree(pretty);
	xmlFree(out);
	xmlFreeDoc(doc);
	xmlFreeDoc(signed_doc);
	return ret;
}

/* ---- the publisher -------------------------------------------------------------------------- */

struct idp_md_publisher {
	struct efos_ctx *ctx;
	struct hsm_key *key;
	X509 *key_cert, *signing_cert, *signing_cert_next, *encryption_cert;
	struct idp_md_info info;          /* strings point into ctx->cfg; scopes into orgs */
	char *org_disp_sv, *org_disp_en;

	pthread_mutex_t build_lock;       /* one build at a time (thread vs. explicit rebuild) */
	char **orgs;                      /* the scopes the current document was built with */
	size_t n_orgs;

	pthread_rwlock_t doc_lock;        /* guards the current document below */
	char *xml;
	size_t len;
	char etag[48];
	time_t signed_at;

	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
	bool stopping;
	bool thread_started;
	pthread_t thread;
};

static X509 *load_cert(const char *key, const char *path, efos_err *e)
{
	FILE *fp = fopen(path, "r");
	if (fp == NULL) {
		efos_fail(e, EFOS_E_CONFIG, "%s: %s: %s", key, path, strerror(errno));
		return NULL;
	}
	X509 *x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	if (x == NULL)
		efos_fail(e, EFOS_E_CONFIG, "%s: %s: no PEM certificate in the file", key, path);
	return x;
}

static void free_orgs(char **orgs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(orgs[i]);
	free(orgs);
}

/* The active organisations' numbers, sorted (one shibmd:Scope each). */
static int read_orgs(struct db_pool *db, char ***out, size_t *n, efos_err *e)
{
	PGconn *c = NULL;
	*out = NULL;
	*n = 0;
	if (db == NULL)
		return 0;
	if (db_acquire(db, &c, e) != 0)
		return -1;
	PGresult *r = db_exec(c, "SELECT orgnr FROM organisations WHERE status = 'active' ORDER BY orgnr", 0, NULL, e);
	if (r == NULL) {
		db_release(db, c, db_conn_broken(c));
		return -1;
	}
	int rows = PQntuples(r);
	char **orgs = calloc(rows > 0 ? (size_t)rows : 1, sizeof *orgs);
	int ret = 0;
	if (orgs == NULL) {
		ret = efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	} else {
		for (int i = 0; i < rows; i++) {
			if ((orgs[i] = strdup(PQgetvalue(r, i, 0))) == NULL) {
				free_orgs(orgs, (size_t)i);
				orgs = NULL;
				ret = efos_fail(e, EFOS_E_INTERNAL, "out of memory");
				break;
			}
		}
	}
	PQclear(r);
	db_release(db, c, false);
	if (ret == 0) {
		*out = orgs;
		*n = (size_t)rows;
	}
	return ret;
}

static bool same_orgs(char **a, size_t na, char **b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

/* Builds with orgs (ownership taken) and installs the result. Caller holds build_lock. */
static int rebuild_locked(struct idp_md_publisher *p, char **orgs, size_t n_orgs, efos_err *e)
{
	char *xml = NULL;
	size_t len = 0;
	time_t now = time(NULL);
	struct idp_md_info in = p->info;
	in.scopes = (const char *const *)orgs;
	in.n_scopes = n_orgs;
	if (idp_md_build_signed(&in, now, p->key, p->key_cert, &xml, &len, e) != 0) {
		free_orgs(orgs, n_orgs);
		return -1;
	}
	unsigned char md[32];
	unsigned int mdlen = 0;
	char etag[48];
	EVP_Digest(xml, len, md, &mdlen, EVP_sha256(), NULL);
	snprintf(etag, sizeof etag, "\"");
	for (size_t i = 0; i < 16; i++)
		snprintf(etag + 1 + 2 * i, sizeof etag - 1 - 2 * i, "%02x", md[i]);
	strcat(etag, "\"");

	pthread_rwlock_wrlock(&p->doc_lock);
	char *old = p->xml;
	p->xml = xml;
	p->len = len;
	p->signed_at = now;
	memcpy(p->etag, etag, sizeof etag);
	pthread_rwlock_unlock(&p->doc_lock);
	free(old);
	free_orgs(p->orgs, p->n_orgs);
	p->orgs = orgs;
	p->n_orgs = n_orgs;

	char kv[256], vu[32];
	idp_md_format_time(now + p->info.validity_s, vu, sizeof vu);
	snprintf(kv, sizeof kv, "\"event\":\"idp_metadata.signed\",\"scopes\":%zu,\"bytes\":%zu,\"valid_until\":\"%s\"",
		 n_orgs, len, vu);
	log_write(LOG_LVL_INFO, kv, "IdP metadata signed: %zu scopes, valid until %s", n_orgs, vu);
	return 0;
}

int idp_md_publisher_rebuild(struct idp_md_publisher *p, efos_err *e)
{
	char **orgs;
	size_t n;
	if (read_orgs(p->ctx->db, &orgs, &n, e) != 0)
		return efos_wrap(e, "IdP metadata: reading the organisations");
	pthread_mutex_lock(&p->build_lock);
	int rc = rebuild_locked(p, orgs, n, e);
	pthread_mutex_unlock(&p->build_lock);
	return rc;
}

/* One poll: rebuild when the organisations changed or the signature is getting old. */
static void poll_once(struct idp_md_publisher *p)
{
	efos_err e = { 0 };
	char **orgs;
	size_t n;
	if (read_orgs(p->ctx->db, &orgs, &n, &e) != 0) {
		log_warn("IdP metadata: cannot read the organisations (keeping the current document): %s", e.msg);
		return;
	}
	pthread_mutex_lock(&p->build_lock);
	time_t age = time(NULL) - p->signed_at;
	if (same_orgs(orgs, n, p->orgs, p->n_orgs) && age < p->ctx->cfg->idp_metadata_resign_s) {
		free_orgs(orgs, n);
	} else if (rebuild_locked(p, orgs, n, &e) != 0) {
		log_error("IdP metadata: rebuilding failed (keeping the current document): %s", e.msg);
	}
	pthread_mutex_unlock(&p->build_lock);
}

static void *publisher_thread(void *arg)
{
	struct idp_md_publisher *p = arg;
	pthread_mutex_lock(&p->stop_lock);
	while (!p->stopping) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += p->ctx->cfg->idp_metadata_org_poll_s;
		while (!p->stopping && pthread_cond_timedwait(&p->stop_cond, &p->stop_lock, &ts) == 0)
			;
		if (p->stopping)
			break;
		pthread_mutex_unlock(&p->stop_lock);
		poll_once(p);
		pthread_mutex_lock(&p->stop_lock);
	}
	pthread_mutex_unlock(&p->stop_lock);
	return NULL;
}

static bool is_orgnr(const char *s)
{
	size_t n = 0;
	for (; s[n] != '\0'; n++)
		if (s[n] < '0' || s[n] > '9')
			return false;
	return n == 10;
}

int idp_md_publisher_start(struct efos_ctx *ctx, struct idp_md_publisher **out, efos_err *e)
{
	const struct efos_config *c = ctx->cfg;
	*out = NULL;
	if (c->idp_metadata_key == NULL || c->idp_metadata_cert == NULL)
		return efos_fail(e, EFOS_E_CONFIG, "idp.metadata_key and idp.metadata_cert must be set together");
	if (c->idp_org_name == NULL)
		return efos_fail(e, EFOS_E_CONFIG, "idp.organization_name is required to publish metadata "
				 "(md:Organization is mandatory in the Swedish eID Framework)");
	if (c->idp_org_number != NULL && !is_orgnr(c->idp_org_number))
		return efos_fail(e, EFOS_E_CONFIG, "idp.organization_number: expected 10 digits without a hyphen, got \"%s\"",
				 c->idp_org_number);
	if (c->idp_metadata_resign_s >= c->idp_metadata_validity_s)
		return efos_fail(e, EFOS_E_CONFIG, "idp.metadata_resign (%d s) must be shorter than idp.metadata_validity (%d s)",
				 c->idp_metadata_resign_s, c->idp_metadata_validity_s);
	if (c->http_public_url == NULL)
		return efos_fail(e, EFOS_E_CONFIG, "http.public_url is needed for the SSO endpoints in the metadata");

	struct idp_md_publisher *p = calloc(1, sizeof *p);
	if (p == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	p->ctx = ctx;
	pthread_mutex_init(&p->build_lock, NULL);
	pthread_rwlock_init(&p->doc_lock, NULL);
	pthread_mutex_init(&p->stop_lock, NULL);
	pthread_cond_init(&p->stop_cond, NULL);

	if (hsm_key_find(ctx->hsm, c->idp_metadata_key, &p->key, e) != 0) {
		efos_wrap(e, "idp.metadata_key %s", c->idp_metadata_key);
		goto fail;
	}
	if ((p->key_cert = load_cert("idp.metadata_cert", c->idp_metadata_cert, e)) == NULL)
		goto fail;
	if (EVP_PKEY_eq(X509_get0_pubkey(p->key_cert), hsm_key_public(p->key)) != 1) {
		efos_fail(e, EFOS_E_CONFIG, "idp.metadata_cert %s is not the certificate of idp.metadata_key %s",
			  c->idp_metadata_cert, c->idp_metadata_key);
		goto fail;
	}
	if (c->idp_signing_cert != NULL) {
		if ((p->signing_cert = load_cert("idp.signing_cert", c->idp_signing_cert, e)) == NULL)
			goto fail;
	} else if (X509_up_ref(p->key_cert) == 1) {
		p->signing_cert = p->key_cert;
	}
	if (c->idp_signing_cert_next != NULL &&
	    (p->signing_cert_next = load_cert("idp.signing_cert_next", c->idp_signing_cert_next, e)) == NULL)
		goto fail;
	if (c->idp_encryption_cert != NULL &&
	    (p->encryption_cert = load_cert("idp.encryption_cert", c->idp_encryption_cert, e)) == NULL)
		goto fail;

	const char *disp_sv = c->idp_org_display_name_sv ? c->idp_org_display_name_sv : c->idp_org_name;
	const char *disp_en = c->idp_org_display_name_en ? c->idp_org_display_name_en : disp_sv;
	p->info = (struct idp_md_info){
		.entity_id = c->idp_entity_id ? c->idp_entity_id : c->http_public_url,
		.public_url = c->http_public_url,
		.mtls_public_url = c->http_mtls_port != 0 ? c->http_mtls_public_url : NULL,
		.want_authn_requests_signed = c->idp_want_authn_requests_signed,
		.validity_s = c->idp_metadata_validity_s,
		.cache_duration_s = c->idp_metadata_cache_duration_s,
		.signing_cert = p->signing_cert,
		.signing_cert_next = p->signing_cert_next,
		.encryption_cert = p->encryption_cert,
		.display_name_sv = c->idp_display_name_sv,
		.display_name_en = c->idp_display_name_en,
		.description_sv = c->idp_description_sv,
		.description_en = c->idp_description_en,
		.logo_url = c->idp_logo_url,
		.logo_width = c->idp_logo_width,
		.logo_height = c->idp_logo_height,
		.org_name = c->idp_org_name,
		.org_display_name_sv = disp_sv,
		.org_display_name_en = disp_en,
		.org_url = c->idp_org_url ? c->idp_org_url : c->http_public_url,
		.org_number = c->idp_org_number,
		.contact_technical = c->idp_contact_technical,
		.contact_support = c->idp_contact_support,
		.principal_selection = (const char *const *)c->idp_principal_selection,
		.n_principal_selection = c->n_idp_principal_selection,
	};
	if (c->idp_logo_url == NULL)
		log_warn("idp.logo_url is not set: the Sweden Connect federation requires an mdui:Logo in IdP metadata");

	if (idp_md_publisher_rebuild(p, e) != 0)
		goto fail;
	if (pthread_create(&p->thread, NULL, publisher_thread, p) != 0) {
		efos_fail(e, EFOS_E_INTERNAL, "cannot start the IdP metadata thread");
		goto fail;
	}
	p->thread_started = true;
	*out = p;
	return 0;
fail:
	idp_md_publisher_stop(p);
	return -1;
}

void idp_md_publisher_stop(struct idp_md_publisher *p)
{
	if (p == NULL)
		return;
	if (p->thread_started) {
		pthread_mutex_lock(&p->stop_lock);
		p->stopping = true;
		pthread_cond_broadcast(&p->stop_cond);
		pthread_mutex_unlock(&p->stop_lock);
		pthread_join(p->thread, NULL);
	}
	if (p->key != NULL)
		hsm_key_free(p->key);
	X509_free(p->key_cert);
	X509_free(p->signing_cert);
	X509_free(p->signing_cert_next);
	X509_free(p->encryption_cert);
	free_orgs(p->orgs, p->n_orgs);
	free(p->xml);
	pthread_mutex_destroy(&p->build_lock);
	pthread_rwlock_destroy(&p->doc_lock);
	pthread_mutex_destroy(&p->stop_lock);
	pthread_cond_destroy(&p->stop_cond);
	free(p);
}

int idp_md_publisher_get(struct idp_md_publisher *p, struct idp_md_current *out, efos_err *e)
{
	memset(out, 0, sizeof *out);
	pthread_rwlock_rdlock(&p->doc_lock);
	if (p->xml == NULL) {
		pthread_rwlock_unlock(&p->doc_lock);
		return efos_fail(e, EFOS_E_UNAVAILABLE, "the IdP metadata has not been built");
	}
	int rc = idp_md_current_fill(out, p->xml, p->len, p->etag, p->signed_at, &p->info, e);
	pthread_rwlock_unlock(&p->doc_lock);
	return rc;
}

time_t idp_md_publisher_signed_at(struct idp_md_publisher *p)
{
	pthread_rwlock_rdlock(&p->doc_lock);
	time_t t = p->xml != NULL ? p->signed_at : 0;
	pthread_rwlock_unlock(&p->doc_lock);
	return t;
}

int idp_md_current_fill(struct idp_md_current *out, const char *xml, size_t len, const char *etag,
			time_t signed_at, const struct idp_md_info *info, efos_err *e)
{
	if ((out->xml = malloc(len + 1)) == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	memcpy(out->xml, xml, len + 1);
	out->len = len;
	snprintf(out->etag, sizeof out->etag, "%s", etag);
	out->signed_at = signed_at;
	out->valid_until = signed_at + info->validity_s;
	out->cache_duration_s = info->cache_duration_s;
	return 0;
}
