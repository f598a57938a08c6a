/* Bounded PDF reading for signing and validation.
 *
 * Reads what a signer or a validator needs from an untrusted PDF and nothing more: the
 * trailer and cross-reference chain (classic tables and xref streams, /Prev chains, objects
 * inside object streams inflated with zlib), indirect objects by number, and the signature
 * fields of the AcroForm. Every size, count and nesting depth is bounded; loops in /Prev or
 * in references are refused. The document is never modified here: signer/pades.c appends an
 * incremental update using what this module found. */
#ifndef EFOS_SIGNER_PDF_H
#define EFOS_SIGNER_PDF_H

#include <stdbool.h>
#include <stddef.h>
#include "core/err.h"

struct pdf_doc;

/* Parses the trailer/xref chain (classic tables and xref streams, /Prev chains, object streams
 * via zlib for lookups), bounded (size, object count, nesting). EFOS_E_INVALID with a message
 * for an encrypted PDF, a broken xref, etc. buf must outlive doc. */
int pdf_open(const unsigned char *buf, size_t len, struct pdf_doc **out, efos_err *e);
void pdf_close(struct pdf_doc *d);

struct pdf_signature {
	size_t byte_range[4];            /* /ByteRange */
	const unsigned char *contents;   /* the decoded /Contents bytes (DER CMS, trailing zeros trimmed) */
	size_t contents_len;             /* (owned by the doc) */
	const char *sub_filter;          /* "ETSI.CAdES.detached", "adbe.pkcs7.detached", ... */
	const char *field_name;          /* /T of the field, may be NULL */
	bool covers_whole_file_but_contents; /* ByteRange = [0 a b len-b]: the signature covers the file up to its revision */
	size_t revision_end;             /* offset after this signature's revision (%%EOF) */
};

/* Every signature dictionary reachable from /AcroForm /Fields (type /Sig, with /V). */
int pdf_signatures(struct pdf_doc *d, const struct pdf_signature **sigs, size_t *n, efos_err *e);

/* What an incremental update needs to know about the last revision (used by signer/pades.c). */
struct pdf_revision_info {
	size_t size;              /* trailer /Size: the first free object number */
	size_t startxref;         /* offset of the last xref section (the new one's /Prev) */
	bool xref_stream;         /* the last section is an xref stream (else a classic table) */
	unsigned root_num, root_gen;      /* /Root */
	bool has_info; unsigned info_num, info_gen;  /* /Info, if any */
	bool has_id;              /* /ID present: id0 is its first string, raw bytes */
	unsigned char id0[64]; size_t id0_len;
};
int pdf_revision_info(struct pdf_doc *d, struct pdf_revision_info *out, efos_err *e);

/* An indirect object's source text: for an object stored directly in the file, the bytes of
 * its value (between "N G obj" and "endobj", without any stream data); for an object inside
 * an object stream, its bytes in the inflated stream (owned by the doc). EFOS_E_NOTFOUND when
 * the object is free or absent. */
int pdf_object_text(struct pdf_doc *d, unsigned num, unsigned gen, const unsigned char **text,
		    size_t *len, efos_err *e);

/* The first page's object (following /Root /Pages /Kids, bounded). */
int pdf_first_page(struct pdf_doc *d, unsigned *num, unsigned *gen, efos_err *e);

#endif
