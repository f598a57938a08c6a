/* CAdES baseline B / B-T with OpenSSL's CMS (seal.h).
 *
 * The SignerInfo is made with CMS_PARTIAL so that both ways of getting the message digest share
 * one path: with the document, CMS_final() digests it (and embeds it when enveloping) and adds
 * content-type and message-digest before it signs; hash-only, the caller's digest becomes the
 * message-digest attribute and CMS_SignerInfo_sign() signs the attributes. CMS_CADES adds ESS
 * signingCertificateV2 (SHA-256, with issuerSerial); CMS_SignerInfo_sign adds signing-time.
 * No SMIMECapabilities: CAdES does not need it. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include "signer/seal.h"

static int ossl_fail(efos_err *e, enum efos_errcode code, const char *what)
{
	unsigned long err = ERR_get_error();
	char buf[256] = "";
	if (err != 0)
		ERR_error_string_n(err, buf, sizeof buf);
	ERR_clear_error();
	return efos_fail(e, code, "%s%s%s", what, buf[0] ? ": " : "", buf);
}

const EVP_MD *seal_md_by_name(const char *name)
{
	if (name == NULL)
		return NULL;
	char n[16];
	size_t o = 0;
	for (const char *p = name; *p && o + 1 < sizeof n; p++)
		if (*p != '-' && *p != '_')
			n[o++] = (char)tolower((unsigned char)*p);
	n[o] = '\0';
	if (strlen(name) > 12)
		return NULL;
	if (!strcmp(n, "sha256"))
		return EVP_sha256();
	if (!strcmp(n, "sha384"))
		return EVP_sha384();
	if (!strcmp(n, "sha512"))
		return EVP_sha512();
	return NULL;
}

const char *seal_md_name(const EVP_MD *md)
{
	switch (EVP_MD_get_type(md)) {
	case NID_sha256: return "sha256";
	case NID_sha384: return "sha384";
	case NID_sha512: return "sha512";
	default: return "unknown";
	}
}

void seal_result_free(struct seal_result *r)
{
	if (r == NULL)
		return;
	free(r->der);
	r->der = NULL;
	r->der_len = 0;
}

static int check_params(const struct seal_cades_params *p, efos_err *e)
{
	if (p->md == NULL)
		return efos_fail(e, EFOS_E_INVALID, "unsupported digest algorithm (sha256, sha384 or sha512)");
	if ((p->document == NULL) == (p->digest == NULL))
		return efos_fail(e, EFOS_E_INVALID, "give either the document or its digest, not both and not neither");
	if (p->no_signing_time && p->digest == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "a signature without signing-time is made from a digest");
	if (p->digest != NULL) {
		if (p->packaging != SEAL_DETACHED)
			return efos_fail(e, EFOS_E_INVALID, "a hash-only request can only make a detached signature "
					 "(the document is not here to be enveloped)");
		if (p->digest_len != (size_t)EVP_MD_get_size(p->md))
			return efos_fail(e, EFOS_E_INVALID, "the digest is %zu bytes long; a %s digest is %d bytes",
					 p->digest_len, seal_md_name(p->md), EVP_MD_get_size(p->md));
	}
	return 0;
}

/* The message-digest attribute of si, into out. */
static int read_message_digest(CMS_SignerInfo *si, struct seal_result *out, efos_err *e)
{
	ASN1_OCTET_STRING *md = CMS_signed_get0_data_by_OBJ(si, OBJ_nid2obj(NID_pkcs9_messageDigest), -3,
							    V_ASN1_OCTET_STRING);
	if (md == NULL || md->length <= 0 || (size_t)md->length > sizeof out->digest)
		return efos_fail(e, EFOS_E_INTERNAL, "the signature has no message-digest attribute");
	memcpy(out->digest, md->data, (size_t)md->length);
	out->digest_len = (size_t)md->length;
	return 0;
}

static int cmp_der(const void *a, const void *b)
{
	const ASN1_STRING *x = *(const ASN1_STRING *const *)a, *y = *(const ASN1_STRING *const *)b;
	int n = x->length < y->length ? x->length : y->length, c = memcmp(x->data, y->data, (size_t)n);
	return c != 0 ? c : x->length - y->length;
}

/* Signs the signed attributes as they are, without the signing-time that CMS_SignerInfo_sign
 * (OpenSSL 3.0) always adds: the DER SET OF the attributes (sorted, X.690 11.6) is what the
 * signature covers (RFC 5652 5.4). */
static int sign_attrs_without_time(CMS_SignerInfo *si, const struct seal_signer *s, const EVP_MD *md, efos_err *e)
{
	int n = CMS_signed_get_attr_count(si), rc = -1;
	ASN1_STRING **enc = n > 0 ? calloc((size_t)n, sizeof *enc) : NULL;
	unsigned char *set = NULL, *sig = NULL;
	EVP_MD_CTX *mctx = NULL;
	size_t total = 0, siglen = 0;
	if (enc == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "no signed attributes");
	for (int i = 0; i < n; i++) {
		unsigned char *der = NULL;
		int l = i2d_X509_ATTRIBUTE(CMS_signed_get_attr(si, i), &der);
		if (l <= 0 || (enc[i] = ASN1_STRING_new()) == NULL) {
			OPENSSL_free(der);
			ossl_fail(e, EFOS_E_INTERNAL, "encoding the signed attributes");
			goto out;
		}
		ASN1_STRING_set0(enc[i], der, l);
		total += (size_t)l;
	}
	qsort(enc, (size_t)n, sizeof *enc, cmp_der);
	/* SET tag and a definite length */
	unsigned char hdr[6];
	size_t hl = 0;
	hdr[hl++] = 0x31;
	if (total < 0x80) {
		hdr[hl++] = (unsigned char)total;
	} else if (total < 0x100) {
		hdr[hl++] = 0x81;
		hdr[hl++] = (unsigned char)total;
	} else if (total < 0x10000) {
		hdr[hl++] = 0x82;
		hdr[hl++] = (unsigned char)(total >> 8);
		hdr[hl++] = (unsigned char)total;
	} else {
		efos_fail(e, EFOS_E_INTERNAL, "the signed attributes are too large");
		goto out;
	}
	if ((set = malloc(hl + total)) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	memcpy(set, hdr, hl);
	size_t o = hl;
	for (int i = 0; i < n; i++) {
		memcpy(set + o, enc[i]->data, (size_t)enc[i]->length);
		o += (size_t)enc[i]->length;
	}
	if ((mctx = EVP_MD_CTX_new()) == NULL || EVP_DigestSignInit(mctx, NULL, md, NULL, s->key) != 1 ||
	    EVP_DigestSign(mctx, NULL, &siglen, set, o) != 1 || (sig = OPENSSL_malloc(siglen)) == NULL ||
	    EVP_DigestSign(mctx, sig, &siglen, set, o) != 1) {
		ossl_fail(e, EFOS_E_UNAVAILABLE, "signing (HSM)");
		goto out;
	}
	if (ASN1_STRING_set(CMS_SignerInfo_get0_signature(si), sig, (int)siglen) != 1) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	rc = 0;
out:
	for (int i = 0; i < n; i++)
		ASN1_STRING_free(enc[i]);
	free(enc);
	free(set);
	OPENSSL_free(sig);
	EVP_MD_CTX_free(mctx);
	return rc;
}

/* B-T: id-aa-signatureTimeStampToken over the signature value (EN 319 122-1 §5.3). */
static int add_signature_timestamp(CMS_SignerInfo *si, const struct seal_cades_params *p, efos_err *e)
{
	ASN1_OCTET_STRING *sig = CMS_SignerInfo_get0_signature(si);
	unsigned char *tok = NULL;
	size_t toklen = 0;
	if (sig == NULL || sig->length <= 0)
		return efos_fail(e, EFOS_E_INTERNAL, "no signature value to timestamp");
	if (p->timestamp(p->timestamp_arg, p->md, sig->data, (size_t)sig->length, &tok, &toklen, e) != 0)
		return -1;
	/* The token is a ContentInfo (a SEQUENCE): an ASN1_TYPE of V_ASN1_SEQUENCE holds it as its
	 * complete DER encoding. */
	int ok = CMS_unsigned_add1_attr_by_NID(si, NID_id_smime_aa_timeStampToken, V_ASN1_SEQUENCE, tok,
					       (int)toklen);
	free(tok);
	return ok ? 0 : ossl_fail(e, EFOS_E_INTERNAL, "adding the signature timestamp");
}

int seal_cades_sign(const struct seal_signer *s, const struct seal_cades_params *p,
		    struct seal_result *out, efos_err *e)
{
	memset(out, 0, sizeof *out);
	if (check_params(p, e) != 0)
		return -1;
	if (s->cert == NULL || s->key == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "the seal key has no certificate or key");
	unsigned int flags = CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP | CMS_CADES;
	if (p->packaging == SEAL_DETACHED)
		flags |= CMS_DETACHED;
	CMS_ContentInfo *cms = CMS_sign(NULL, NULL, s->chain, NULL, flags);
	CMS_SignerInfo *si = NULL;
	BIO *doc = NULL;
	unsigned char *der = NULL;
	int rc = -1;
	if (cms == NULL) {
		ossl_fail(e, EFOS_E_INTERNAL, "CMS_sign");
		goto out;
	}
	if ((si = CMS_add1_signer(cms, s->cert, s->key, p->md, flags)) == NULL) {
		ossl_fail(e, EFOS_E_INTERNAL, "adding the signer");
		goto out;
	}
	if (p->document != NULL) {
		/* Digests (and, enveloping, embeds) the document; adds content-type, message-digest
		 * and signing-time; signs. */
		if ((doc = BIO_new_mem_buf(p->document, (int)p->document_len)) == NULL ||
		    CMS_final(cms, doc, NULL, CMS_BINARY) != 1) {
			ossl_fail(e, EFOS_E_UNAVAILABLE, "signing (HSM)");
			goto out;
		}
	} else {
		if (!CMS_signed_add1_attr_by_NID(si, NID_pkcs9_contentType, V_ASN1_OBJECT,
						 OBJ_nid2obj(NID_pkcs7_data), -1) ||
		    !CMS_signed_add1_attr_by_NID(si, NID_pkcs9_messageDigest, V_ASN1_OCTET_STRING, p->digest,
						 (int)p->digest_len)) {
			ossl_fail(e, EFOS_E_INTERNAL, "adding the signed attributes");
			goto out;
		}
		if (p->no_signing_time) {
			if (sign_attrs_without_time(si, s, p->md, e) != 0)
				goto out;
		} else if (CMS_SignerInfo_sign(si) != 1) {
			ossl_fail(e, EFOS_E_UNAVAILABLE, "signing (HSM)");
			goto out;
		}
	}
	if (read_message_digest(si, out, e) != 0)
		goto out;
	if (p->timestamp != NULL) {
		if (add_signature_timestamp(si, p, e) != 0)
			goto out;
		out->timestamped = true;
	}
	int n = i2d_CMS_ContentInfo(cms, &der);
	if (n <= 0) {
		ossl_fail(e, EFOS_E_INTERNAL, "encoding the signature");
		goto out;
	}
	if ((out->der = malloc((size_t)n)) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	memcpy(out->der, der, (size_t)n);
	out->der_len = (size_t)n;
	rc = 0;
out:
	OPENSSL_free(der);
	BIO_free(doc);
	CMS_ContentInfo_free(cms);
	return rc;
}
