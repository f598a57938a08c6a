/* PAdES baseline B and B-T signatures (ETSI EN 319 142-1) on a PDF, for the seal API.
 *
 * The original bytes are kept as they are and an incremental update is appended (ISO 32000-1
 * 7.5.6): a signature dictionary (/Type /Sig, /Filter /Adobe.PPKLite, /SubFilter
 * /ETSI.CAdES.detached, /ByteRange, /Contents, /M), an invisible signature field that is also
 * its widget (/Rect [0 0 0 0], /F 132 = print + locked) added to the first page's /Annots and
 * to the AcroForm's /Fields with /SigFlags 3, and a new cross-reference section of the kind the
 * file already uses (a classic table, or an xref stream) with /Prev. An already-signed PDF
 * gets one more signature; the earlier ones stay valid because their bytes do not change.
 *
 * The CMS is signer/seal.c's CAdES with no signing-time attribute (PAdES puts the time in /M):
 * content-type, message-digest over the ByteRange, signingCertificateV2, the chain; B-T adds
 * the signature timestamp as an unsigned attribute. /Contents is reserved from an upper bound
 * of that CMS's size (pades_contents_bound) before the digest is taken. */
#ifndef EFOS_SIGNER_PADES_H
#define EFOS_SIGNER_PADES_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <openssl/evp.h>
#include "core/err.h"
#include "signer/seal.h"

struct pades_params {
	const unsigned char *pdf;          /* the PDF to sign */
	size_t pdf_len;
	const EVP_MD *md;                  /* seal_md_by_name() */
	time_t signing_time;               /* written as /M; 0: now */
	seal_timestamp_fn timestamp;       /* B-T when set */
	void *timestamp_arg;
};

struct pades_result {
	unsigned char *pdf;                /* the signed PDF: the original bytes + the update (malloc'd) */
	size_t pdf_len;
	unsigned char document_digest[EVP_MAX_MD_SIZE];  /* md of the PDF as given (for the audit) */
	size_t document_digest_len;
	unsigned char signed_digest[EVP_MAX_MD_SIZE];    /* md over the ByteRange: the message-digest */
	size_t signed_digest_len;
	size_t byte_range[4];
	bool timestamped;
};

/* EFOS_E_INVALID (with a message for the client) for a document that is not a PDF we can
 * update: encrypted, unreadable cross-references, no pages, ...; EFOS_E_UNAVAILABLE when the
 * HSM or the TSA failed. */
int pades_sign(const struct seal_signer *s, const struct pades_params *p, struct pades_result *out, efos_err *e);
void pades_result_free(struct pades_result *r);

/* Bytes reserved for the CMS (the /Contents hex string holds twice as many digits): the
 * certificates' sizes + the signature size + room for the attributes, and a timestamp
 * allowance for B-T. */
size_t pades_contents_bound(const struct seal_signer *s, bool timestamp);

#endif
