/* xml_dsig_verify_element(): strict XML-DSig verification of one element (see xml.h and
 * docs/xml-security.md).
 *
 * We do not hand the signature to xmlsec's generic verifier: it accepts whatever XML-DSig
 * allows (any transform it knows, KeyInfo-driven key lookup, any number of References,
 * Reference resolution by its own rules), and each of those freedoms has been an attack on
 * some SAML library. Here the signature is taken apart against one fixed shape, and the
 * two computations are the same ones the signing side uses (core/xml_c14n.c, the libxml2
 * canonicaliser that xmlsec also uses) plus one EVP_DigestVerify per candidate key. */
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <libxml/parser.h>
#include <libxml/valid.h>
#include "core/xml.h"
#include "core/xml_alg.h"
#include "core/xml_c14n.h"

#define MAX_SIG_BYTES 1024   /* RSA-8192 */
#define MAX_B64_CHARS 4096

const struct xml_dsig_policy xml_dsig_policy_saml = {
	.ref = XML_DSIG_REF_ID,
	.signature_in_descendant = false,
	.allow_with_comments = false,
};

const struct xml_dsig_policy xml_dsig_policy_dss = {
	.ref = XML_DSIG_REF_DOCUMENT,
	.signature_in_descendant = true,
	.allow_with_comments = false,
};

/* Decodes base64 text (whitespace and line breaks allowed, as xmlsec writes it) into out,
 * which holds cap bytes. */
static int b64_decode(const xmlChar *in, unsigned char *out, size_t cap, size_t *outlen)
{
	unsigned char tmp[MAX_B64_CHARS / 4 * 3 + 3];
	size_t inlen = (size_t)xmlStrlen(in);
	if (inlen == 0 || inlen > MAX_B64_CHARS)
		return -1;
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	int n1 = 0, n2 = 0, rc = -1;
	if (ctx == NULL)
		return -1;
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, tmp, &n1, in, (int)inlen) >= 0 && EVP_DecodeFinal(ctx, tmp + n1, &n2) == 1) {
		size_t n = (size_t)n1 + (size_t)n2;
		if (n > 0 && n <= cap) {
			memcpy(out, tmp, n);
			*outlen = n;
			rc = 0;
		}
	}
	EVP_ENCODE_CTX_free(ctx);
	return rc;
}

/* The DigestValue that must follow the DigestMethod dm and end the Reference (shape: the
 * message when it does not), as md's digest into out (cap bytes). The caller frees *dv. */
static int digest_value(xmlNodePtr dm, const EVP_MD *md, const char *shape, xmlChar **dv, unsigned char *out,
			size_t cap, size_t *outlen, efos_err *e)
{
	xmlNodePtr dvn = xml_next_element(dm->next);
	if (!xml_is_dsig(dvn, "DigestValue") || xml_next_element(dvn->next) != NULL)
		return efos_fail(e, EFOS_E_INVALID, "XML-DSig: %s", shape);
	if (xml_text_content_strict(dvn, dv, e) < 0)
		return -1;
	if (b64_decode(*dv, out, cap, outlen) < 0 || *outlen != (size_t)EVP_MD_get_size(md))
		return efos_fail(e, EFOS_E_INVALID, "XML-DSig: DigestValue is not a base64 %s digest", EVP_MD_get0_name(md));
	return 0;
}

static int alg_attr(xmlNodePtr n, xmlChar **out, efos_err *e)
{
	*out = xmlGetNoNsProp(n, BAD_CAST "Algorithm");
	if (*out == NULL)
		return efos_fail(e, EFOS_E_INVALID, "XML-DSig: <%s> has no Algorithm", n->name);
	return 0;
}

static bool is_exc_c14n(const xmlChar *alg, bool allow_comments, bool *with_comments)
{
	*with_comments = xmlStrEqual(alg, BAD_CAST XML_ALG_EXC_C14N_COMMENTS);
	return xmlStrEqual(alg, BAD_CAST XML_ALG_EXC_C14N) || (*with_comments && allow_comments);
}

/* Where the signature is, relative to the element it must sign. */
static xmlNodePtr place_signature(xmlNodePtr signed_elem, xmlNodePtr sig, const struct xml_dsig_policy *pol,
				  efos_err *e)
{
	if (sig == NULL) {
		size_t n = 0;
		for (xmlNodePtr c = signed_elem->children; c != NULL; c = c->next)
			if (xml_is_dsig(c, "Signature")) {
				sig = sig ? sig : c;
				n++;
			}
		if (n == 0) {
			efos_fail(e, EFOS_E_AUTH, "XML-DSig: <%s> is not signed (no ds:Signature child)", signed_elem->name);
			return NULL;
		}
		if (n > 1) {
			efos_fail(e, EFOS_E_INVALID, "XML-DSig: <%s> has %zu ds:Signature children, exactly one is allowed",
				  signed_elem->name, n);
			return NULL;
		}
		return sig;
	}
	if (!xml_is_dsig(sig, "Signature") || sig->doc != signed_elem->doc) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: the signature node is not a ds:Signature of this document");
		return NULL;
	}
	if (!pol->signature_in_descendant) {
		if (sig->parent != signed_elem) {
			efos_fail(e, EFOS_E_INVALID, "XML-DSig: the ds:Signature (line %ld) is not a child of <%s>: "
				  "it does not sign that element", xmlGetLineNo(sig), signed_elem->name);
			return NULL;
		}
		return sig;
	}
	for (xmlNodePtr p = sig->parent; p != NULL; p = p->parent)
		if (p == signed_elem)
			return sig;
	efos_fail(e, EFOS_E_INVALID, "XML-DSig: the ds:Signature (line %ld) is not inside <%s>",
		  xmlGetLineNo(sig), signed_elem->name);
	return NULL;
}

/* The Reference's URI must name exactly signed_elem (or the whole document, per policy). */
static int check_uri(xmlNodePtr ref, xmlNodePtr signed_elem, const struct xml_dsig_policy *pol, efos_err *e)
{
	xmlChar *uri = xmlGetNoNsProp(ref, BAD_CAST "URI");
	int ret = -1;
	if (uri == NULL) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: the Reference has no URI");
		goto out;
	}
	if (pol->ref == XML_DSIG_REF_DOCUMENT) {
		if (uri[0] != '\0') {
			efos_fail(e, EFOS_E_INVALID, "XML-DSig: Reference URI=\"%.80s\" refused: this signature must cover "
				  "the whole document (URI=\"\")", uri);
			goto out;
		}
		if (xmlDocGetRootElement(signed_elem->doc) != signed_elem) {
			efos_fail(e, EFOS_E_INVALID, "XML-DSig: a whole-document signature can only verify the root element");
			goto out;
		}
		ret = 0;
		goto out;
	}
	if (uri[0] == '\0') {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: Reference URI=\"\" (whole document) refused: the signature of "
			  "<%s> must reference its ID", signed_elem->name);
		goto out;
	}
	if (uri[0] != '#' || uri[1] == '\0' || xmlValidateNCName(uri + 1, 0) != 0) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: Reference URI=\"%.80s\" refused (only \"#ID\")", uri);
		goto out;
	}
	xmlAttrPtr id = xmlGetID(signed_elem->doc, uri + 1);
	if (id == NULL || id->ns != NULL) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: Reference URI=\"%.80s\" is not a registered ID", uri);
		goto out;
	}
	if (id->parent != signed_elem) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: Reference URI=\"%.80s\" points at <%s> (line %ld), not at the "
			  "<%s> being verified: refused (signature wrapping)", uri, id->parent ? (const char *)id->parent->name : "?",
			  id->parent ? xmlGetLineNo(id->parent) : 0L, signed_elem->name);
		goto out;
	}
	ret = 0;
out:
	xmlFree(uri);
	return ret;
}

struct reference {
	const EVP_MD *md;
	unsigned char digest[EVP_MAX_MD_SIZE];
	size_t digest_len;
	xmlChar *pstore, **prefixes;
};

static void reference_free(struct reference *r)
{
	xmlFree(r->prefixes);
	xmlFree(r->pstore);
}

/* Reference = Transforms(enveloped-signature, exc-c14n), DigestMethod, DigestValue. */
static int parse_reference(xmlNodePtr ref, const struct xml_dsig_policy *pol, struct reference *r, efos_err *e)
{
	xmlChar *alg = NULL, *dv = NULL;
	bool wc;
	int ret = -1;

	xmlNodePtr ts = xml_first_element(ref);
	if (!xml_is_dsig(ts, "Transforms")) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: the Reference must have Transforms (enveloped-signature, exc-c14n)");
		goto out;
	}
	xmlNodePtr t1 = xml_first_element(ts);
	xmlNodePtr t2 = t1 ? xml_next_element(t1->next) : NULL;
	size_t nt = 0;
	for (xmlNodePtr t = t1; t != NULL; t = xml_next_element(t->next), nt++) {
		if (!xml_is_dsig(t, "Transform")) {
			efos_fail(e, EFOS_E_INVALID, "XML-DSig: unexpected <%s> in Transforms", t->name);
			goto out;
		}
		if (alg_attr(t, &alg, e) < 0)
			goto out;
		if (!xmlStrEqual(alg, BAD_CAST XML_ALG_ENVELOPED) && !is_exc_c14n(alg, pol->allow_with_comments, &wc)) {
			efos_fail(e, EFOS_E_INVALID, "XML-DSig: transform %.100s refused (only enveloped-signature and exc-c14n%s)",
				  alg, pol->allow_with_comments ? "" : " without comments");
			goto out;
		}
		xmlFree(alg);
		alg = NULL;
	}
	if (nt != 2) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: the Reference must have exactly the transforms enveloped-signature, "
			  "exc-c14n (it has %zu)", nt);
		goto out;
	}
	if (alg_attr(t1, &alg, e) < 0)
		goto out;
	bool t1_ok = xmlStrEqual(alg, BAD_CAST XML_ALG_ENVELOPED) && xml_first_element(t1) == NULL;
	xmlFree(alg);
	if (alg_attr(t2, &alg, e) < 0)
		goto out;
	bool t2_ok = is_exc_c14n(alg, pol->allow_with_comments, &wc);
	if (!t1_ok || !t2_ok) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: the transforms must be enveloped-signature then exc-c14n, in that order");
		goto out;
	}
	if (xml_c14n_inclusive_prefixes(t2, &r->pstore, &r->prefixes, e) < 0)
		goto out;

	xmlNodePtr dm = xml_next_element(ts->next);
	if (!xml_is_dsig(dm, "DigestMethod")) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: the Reference has no DigestMethod");
		goto out;
	}
	xmlFree(alg);
	if (alg_attr(dm, &alg, e) < 0)
		goto out;
	const struct xml_digest_alg *da = xml_digest_alg_find((const char *)alg);
	if (da == NULL || !xml_alg_in_list((const char *)alg, pol->digest_algs)) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: DigestMethod %.100s refused (%s)", alg,
			  da ? "not allowed by this profile" : xml_alg_refusal((const char *)alg));
		goto out;
	}
	if (xml_first_element(dm) != NULL) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: DigestMethod parameters are not supported");
		goto out;
	}
	r->md = da->md();
	if (digest_value(dm, r->md, "the Reference must be Transforms, DigestMethod, DigestValue", &dv, r->digest,
			 sizeof r->digest, &r->digest_len, e) < 0)
		goto out;
	ret = 0;
out:
	xmlFree(dv);
	xmlFree(alg);
	return ret;
}

/* The SignatureValue's bytes (into sigbin, MAX_SIG_BYTES) and the canonical SignedInfo they
 * sign: the last step of both verifiers. The caller frees *sv_text and *c14n_si. */
static int sig_value_and_signed_info(xmlNodePtr sv, xmlNodePtr si, xmlChar **prefixes, bool with_comments,
				     xmlChar **sv_text, unsigned char *sigbin, size_t *siglen,
				     xmlOutputBufferPtr *c14n_si, efos_err *e)
{
	if (xml_text_content_strict(sv, sv_text, e) < 0)
		return -1;
	if (b64_decode(*sv_text, sigbin, MAX_SIG_BYTES, siglen) < 0)
		return efos_fail(e, EFOS_E_INVALID, "XML-DSig: SignatureValue is not base64 of a plausible signature");
	struct xml_node_set si_set = { si, NULL, !with_comments };
	return xml_c14n_exclusive(si->doc, &si_set, prefixes, with_comments, c14n_si, e);
}

/* SignedInfo's CanonicalizationMethod (exc-c14n) and SignatureMethod (allow-list, no
 * parameters); *first_ref: the element after them. The caller frees the xmlChar outputs. */
static int signed_info_head(xmlNodePtr si, const struct xml_dsig_policy *pol, xmlChar **c14n_alg, bool *with_comments,
			    xmlChar **pstore, xmlChar ***prefixes, xmlChar **sig_alg, const struct xml_sig_alg **sa,
			    xmlNodePtr *first_ref, efos_err *e)
{
	xmlNodePtr cm = xml_first_element(si);
	xmlNodePtr sm = cm ? xml_next_element(cm->next) : NULL;
	*first_ref = sm ? xml_next_element(sm->next) : NULL;
	if (!xml_is_dsig(cm, "CanonicalizationMethod") || !xml_is_dsig(sm, "SignatureMethod"))
		return efos_fail(e, EFOS_E_INVALID, "XML-DSig: SignedInfo must be CanonicalizationMethod, SignatureMethod, Reference");
	if (alg_attr(cm, c14n_alg, e) < 0)
		return -1;
	if (!is_exc_c14n(*c14n_alg, pol->allow_with_comments, with_comments))
		return efos_fail(e, EFOS_E_INVALID, "XML-DSig: CanonicalizationMethod %.100s refused (exc-c14n%s only)", *c14n_alg,
				 pol->allow_with_comments ? "" : " without comments");
	if (xml_c14n_inclusive_prefixes(cm, pstore, prefixes, e) < 0)
		return -1;
	if (alg_attr(sm, sig_alg, e) < 0)
		return -1;
	*sa = xml_sig_alg_find((const char *)*sig_alg);
	if (*sa == NULL || !xml_alg_in_list((const char *)*sig_alg, pol->sig_algs))
		return efos_fail(e, EFOS_E_INVALID, "XML-DSig: SignatureMethod %.100s refused (%s)", *sig_alg,
				 *sa ? "not allowed by this profile" : xml_alg_refusal((const char *)*sig_alg));
	/* HMACOutputLength and friends (CVE-2009-0217) */
	if (xml_first_element(sm) != NULL)
		return efos_fail(e, EFOS_E_INVALID, "XML-DSig: SignatureMethod parameters are not allowed");
	return 0;
}

xmlNodePtr xml_dsig_verify_element(xmlNodePtr signed_elem, xmlNodePtr sig, EVP_PKEY *const *keys,
				   size_t nkeys, const struct xml_dsig_policy *pol, efos_err *e)
{
	struct reference ref = { 0 };
	xmlChar *c14n_alg = NULL, *sig_alg = NULL, *pstore = NULL, **prefixes = NULL, *sv_text = NULL;
	xmlOutputBufferPtr c14n_si = NULL, c14n_ref = NULL;
	unsigned char sigbin[MAX_SIG_BYTES];
	size_t siglen = 0;
	xmlNodePtr ret = NULL;
	bool with_comments = false;

	if (pol == NULL)
		pol = &xml_dsig_policy_saml;
	if (signed_elem == NULL || signed_elem->type != XML_ELEMENT_NODE || signed_elem->doc == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "XML-DSig: nothing to verify");
		return NULL;
	}
	if ((sig = place_signature(signed_elem, sig, pol, e)) == NULL)
		return NULL;

	/* Signature = SignedInfo, SignatureValue, KeyInfo? and nothing else. KeyInfo is never
	 * read (keys come from the caller); ds:Object is where wrapping attacks hide content. */
	xmlNodePtr si = xml_first_element(sig);
	xmlNodePtr sv = si ? xml_next_element(si->next) : NULL;
	if (!xml_is_dsig(si, "SignedInfo") || !xml_is_dsig(sv, "SignatureValue")) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: ds:Signature must start with SignedInfo, SignatureValue");
		goto out;
	}
	xmlNodePtr rest = xml_next_element(sv->next);
	if (xml_is_dsig(rest, "KeyInfo"))
		rest = xml_next_element(rest->next);
	if (rest != NULL) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: <%s> (line %ld) is not allowed in ds:Signature%s", rest->name,
			  xmlGetLineNo(rest), xml_is_dsig(rest, "Object") ? " (ds:Object: where signature wrapping hides content)" : "");
		goto out;
	}

	/* SignedInfo = CanonicalizationMethod, SignatureMethod, Reference (exactly one). */
	const struct xml_sig_alg *sa = NULL;
	xmlNodePtr rn = NULL;
	if (signed_info_head(si, pol, &c14n_alg, &with_comments, &pstore, &prefixes, &sig_alg, &sa, &rn, e) < 0)
		goto out;
	if (!xml_is_dsig(rn, "Reference")) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: SignedInfo has no Reference");
		goto out;
	}
	if (xml_next_element(rn->next) != NULL) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: SignedInfo must have exactly one Reference");
		goto out;
	}
	if (check_uri(rn, signed_elem, pol, e) < 0 || parse_reference(rn, pol, &ref, e) < 0)
		goto out;

	/* SignatureValue, then the signature over the canonical SignedInfo: one of our keys. */
	if (sig_value_and_signed_info(sv, si, prefixes, with_comments, &sv_text, sigbin, &siglen, &c14n_si, e) < 0)
		goto out;
	const char *why = "no trusted key is configured";
	size_t usable = 0;
	bool verified = false;
	for (size_t i = 0; i < nkeys && !verified; i++) {
		if (keys[i] == NULL || !xml_alg_key_ok(keys[i], sa, pol->min_rsa_bits, pol->min_ec_bits, &why))
			continue;
		usable++;
		verified = xml_alg_verify(keys[i], sa, xmlOutputBufferGetContent(c14n_si),
					  (size_t)xmlOutputBufferGetSize(c14n_si), sigbin, siglen) == 1;
	}
	if (!verified) {
		if (usable == 0)
			efos_fail(e, EFOS_E_AUTH, "XML-DSig: none of the %zu trusted keys can check a %s signature: %s",
				  nkeys, sig_alg, why);
		else
			efos_fail(e, EFOS_E_AUTH, "XML-DSig: the signature of <%s> does not verify with any of the %zu trusted keys",
				  signed_elem->name, usable);
		goto out;
	}

	/* The Reference: the element (or document) minus the signature, minus comments
	 * (a same-document reference drops them whatever the c14n variant says). */
	struct xml_node_set ref_set = {
		pol->ref == XML_DSIG_REF_DOCUMENT ? (xmlNodePtr)signed_elem->doc : signed_elem, sig, true
	};
	if (xml_c14n_exclusive(sig->doc, &ref_set, ref.prefixes, false, &c14n_ref, e) < 0)
		goto out;
	unsigned char dgst[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	if (EVP_Digest(xmlOutputBufferGetContent(c14n_ref), (size_t)xmlOutputBufferGetSize(c14n_ref), dgst, &dlen,
		       ref.md, NULL) != 1) {
		efos_fail(e, EFOS_E_INTERNAL, "XML-DSig: digest failed");
		goto out;
	}
	if (dlen != ref.digest_len || CRYPTO_memcmp(dgst, ref.digest, dlen) != 0) {
		efos_fail(e, EFOS_E_AUTH, "XML-DSig: the digest of <%s> does not match its Reference: the content was "
			  "changed after signing", signed_elem->name);
		goto out;
	}
	ret = signed_elem;
out:
	if (c14n_si != NULL)
		xmlOutputBufferClose(c14n_si);
	if (c14n_ref != NULL)
		xmlOutputBufferClose(c14n_ref);
	reference_free(&ref);
	xmlFree(sv_text);
	xmlFree(prefixes);
	xmlFree(pstore);
	xmlFree(sig_alg);
	xmlFree(c14n_alg);
	return ret;
}

/* ---- the validator's check (xml.h 4b) ----------------------------------------------------- */

static const struct xml_dsig_policy policy_validate = {
	.ref = XML_DSIG_REF_DOCUMENT,
	.signature_in_descendant = true,
	.allow_with_comments = false,
};

static bool inside(xmlNodePtr n, xmlNodePtr ancestor)
{
	for (; n != NULL; n = n->parent)
		if (n == ancestor)
			return true;
	return false;
}

/* One Reference of a validated signature: its transforms, digest, target, and whether the
 * digest matches. */
static int check_reference(xmlNodePtr ref, xmlNodePtr sig, const unsigned char *external, size_t external_len,
			   struct xml_dsig_ref_check *rc, bool *alg_refused, efos_err *e)
{
	xmlChar *uri = xmlGetNoNsProp(ref, BAD_CAST "URI"), *type = xmlGetNoNsProp(ref, BAD_CAST "Type");
	xmlChar *alg = NULL, *dv = NULL, *pstore = NULL, **prefixes = NULL;
	xmlOutputBufferPtr c14n = NULL;
	unsigned char want[EVP_MAX_MD_SIZE], got[EVP_MAX_MD_SIZE];
	size_t want_len = 0;
	unsigned int got_len = 0;
	bool enveloped = false, exc = false, wc = false;
	int ret = -1;

	if (uri == NULL) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: a Reference has no URI");
		goto out;
	}
	snprintf(rc->uri, sizeof rc->uri, "%s", (const char *)uri);
	rc->signed_properties = type != NULL && xmlStrEqual(type, BAD_CAST XML_DSIG_SIGNED_PROPERTIES_TYPE);
	xmlNodePtr n = xml_first_element(ref);
	if (xml_is_dsig(n, "Transforms")) {
		size_t nt = 0;
		for (xmlNodePtr t = xml_first_element(n); t != NULL; t = xml_next_element(t->next), nt++) {
			if (!xml_is_dsig(t, "Transform") || alg_attr(t, &alg, e) < 0) {
				if (!xml_is_dsig(t, "Transform"))
					efos_fail(e, EFOS_E_INVALID, "XML-DSig: unexpected <%s> in Transforms", t->name);
				goto out;
			}
			if (xmlStrEqual(alg, BAD_CAST XML_ALG_ENVELOPED) && nt == 0 && xml_first_element(t) == NULL) {
				enveloped = true;
			} else if (is_exc_c14n(alg, false, &wc) && !exc && xml_next_element(t->next) == NULL) {
				exc = true;
				if (xml_c14n_inclusive_prefixes(t, &pstore, &prefixes, e) < 0)
					goto out;
			} else {
				*alg_refused = true;
				efos_fail(e, EFOS_E_INVALID, "XML-DSig: transform %.100s refused here (only enveloped-signature, "
					  "then exclusive c14n without comments)", alg);
				goto out;
			}
			xmlFree(alg);
			alg = NULL;
		}
		n = xml_next_element(n->next);
	}
	if (!xml_is_dsig(n, "DigestMethod") || alg_attr(n, &alg, e) < 0) {
		if (!xml_is_dsig(n, "DigestMethod"))
			efos_fail(e, EFOS_E_INVALID, "XML-DSig: a Reference has no DigestMethod");
		goto out;
	}
	const struct xml_digest_alg *da = xml_digest_alg_find((const char *)alg);
	if (da == NULL || xml_first_element(n) != NULL) {
		*alg_refused = true;
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: DigestMethod %.100s refused (%s)", alg,
			  da ? "parameters are not supported" : xml_alg_refusal((const char *)alg));
		goto out;
	}
	if (digest_value(n, da->md(), "a Reference must be Transforms?, DigestMethod, DigestValue", &dv, want,
			 sizeof want, &want_len, e) < 0)
		goto out;

	const unsigned char *data;
	size_t len;
	if (uri[0] != '\0' && uri[0] != '#') {
		rc->external = true;
		if (enveloped || exc) {
			efos_fail(e, EFOS_E_INVALID, "XML-DSig: the Reference to the external document \"%.80s\" has transforms: "
				  "only the document's own bytes are accepted", uri);
			goto out;
		}
		if (external == NULL) {
			efos_fail(e, EFOS_E_INVALID, "the signature is detached: its Reference \"%.80s\" names an external "
				  "document; send that document as \"document\"", uri);
			goto out;
		}
		data = external;
		len = external_len;
	} else {
		xmlNodePtr target;
		if (uri[0] == '\0') {
			target = xmlDocGetRootElement(sig->doc);
		} else {
			xmlAttrPtr id = xmlValidateNCName(uri + 1, 0) == 0 ? xmlGetID(sig->doc, uri + 1) : NULL;
			if (id == NULL || id->parent == NULL) {
				efos_fail(e, EFOS_E_INVALID, "XML-DSig: Reference URI=\"%.80s\" is not an ID of this document", uri);
				goto out;
			}
			target = id->parent;
		}
		rc->target = target;
		if (!exc) {
			*alg_refused = true;
			efos_fail(e, EFOS_E_INVALID, "XML-DSig: Reference URI=\"%.80s\" without exclusive c14n: inclusive "
				  "canonicalisation is not accepted", uri);
			goto out;
		}
		if (enveloped != inside(sig, target)) {
			efos_fail(e, EFOS_E_INVALID, "XML-DSig: Reference URI=\"%.80s\": %s", uri, enveloped ?
				  "the enveloped-signature transform on an element that does not hold the signature" :
				  "the signed element holds the signature but the Reference has no enveloped-signature transform");
			goto out;
		}
		struct xml_node_set set = { uri[0] == '\0' ? (xmlNodePtr)sig->doc : target, enveloped ? sig : NULL, true };
		if (xml_c14n_exclusive(sig->doc, &set, prefixes, false, &c14n, e) < 0)
			goto out;
		data = xmlOutputBufferGetContent(c14n);
		len = (size_t)xmlOutputBufferGetSize(c14n);
	}
	if (EVP_Digest(data, len, got, &got_len, da->md(), NULL) != 1) {
		efos_fail(e, EFOS_E_INTERNAL, "XML-DSig: digest failed");
		goto out;
	}
	rc->digest_ok = got_len == want_len && CRYPTO_memcmp(got, want, got_len) == 0;
	ret = 0;
out:
	if (c14n != NULL)
		xmlOutputBufferClose(c14n);
	xmlFree(prefixes);
	xmlFree(pstore);
	xmlFree(dv);
	xmlFree(alg);
	xmlFree(type);
	xmlFree(uri);
	return ret;
}

int xml_dsig_check_signature(xmlNodePtr sig, EVP_PKEY *key, const unsigned char *external, size_t external_len,
			     struct xml_dsig_check *out, bool *alg_refused, efos_err *e)
{
	xmlChar *c14n_alg = NULL, *sig_alg = NULL, *pstore = NULL, **prefixes = NULL, *sv_text = NULL;
	xmlOutputBufferPtr c14n_si = NULL;
	unsigned char sigbin[MAX_SIG_BYTES];
	size_t siglen = 0;
	bool with_comments = false;
	const struct xml_sig_alg *sa = NULL;
	xmlNodePtr rn = NULL;
	const char *why = NULL;
	int ret = -1;

	memset(out, 0, sizeof *out);
	*alg_refused = false;
	if (!xml_is_dsig(sig, "Signature") || sig->doc == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "XML-DSig: not a ds:Signature");
	xmlNodePtr si = xml_first_element(sig);
	xmlNodePtr sv = si ? xml_next_element(si->next) : NULL;
	if (!xml_is_dsig(si, "SignedInfo") || !xml_is_dsig(sv, "SignatureValue"))
		return efos_fail(e, EFOS_E_INVALID, "XML-DSig: ds:Signature must start with SignedInfo, SignatureValue");
	for (xmlNodePtr r = xml_next_element(sv->next); r != NULL; r = xml_next_element(r->next))
		if (!xml_is_dsig(r, "KeyInfo") && !xml_is_dsig(r, "Object"))
			return efos_fail(e, EFOS_E_INVALID, "XML-DSig: <%s> (line %ld) is not allowed in ds:Signature",
					 r->name, xmlGetLineNo(r));
	if (signed_info_head(si, &policy_validate, &c14n_alg, &with_comments, &pstore, &prefixes, &sig_alg, &sa, &rn,
			     e) < 0) {
		*alg_refused = c14n_alg != NULL;   /* past the shape check: an algorithm was refused */
		goto out;
	}
	if (!xml_alg_key_ok(key, sa, 0, 0, &why)) {
		*alg_refused = true;
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: the signer's key cannot make a %s signature here: %s", sig_alg, why);
		goto out;
	}
	for (; rn != NULL; rn = xml_next_element(rn->next)) {
		if (!xml_is_dsig(rn, "Reference")) {
			efos_fail(e, EFOS_E_INVALID, "XML-DSig: <%s> in SignedInfo is not a Reference", rn->name);
			goto out;
		}
		if (out->n_refs == XML_DSIG_MAX_REFS) {
			efos_fail(e, EFOS_E_INVALID, "XML-DSig: more than %d References", XML_DSIG_MAX_REFS);
			goto out;
		}
		if (check_reference(rn, sig, external, external_len, &out->refs[out->n_refs], alg_refused, e) < 0)
			goto out;
		out->n_refs++;
	}
	if (out->n_refs == 0) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: SignedInfo has no Reference");
		goto out;
	}
	if (sig_value_and_signed_info(sv, si, prefixes, with_comments, &sv_text, sigbin, &siglen, &c14n_si, e) < 0)
		goto out;
	out->signature_ok = xml_alg_verify(key, sa, xmlOutputBufferGetContent(c14n_si),
					   (size_t)xmlOutputBufferGetSize(c14n_si), sigbin, siglen) == 1;
	ret = 0;
out:
	if (c14n_si != NULL)
		xmlOutputBufferClose(c14n_si);
	xmlFree(sv_text);
	xmlFree(prefixes);
	xmlFree(pstore);
	xmlFree(sig_alg);
	xmlFree(c14n_alg);
	return ret;
}
