/* Object-level access to a parsed PDF, for the modules that read or update one (signer/pades.c,
 * the validator): lookups by object number, reference resolution, the catalog and trailer.
 * Objects returned are owned by the doc and live until pdf_close. */
#ifndef EFOS_SIGNER_PDF_INTERNAL_H
#define EFOS_SIGNER_PDF_INTERNAL_H

#include "signer/pdf.h"
#include "signer/pdf_obj.h"

/* Object num (any generation the xref holds); *stream_at (if asked): its stream data's start
 * in the file, NULL when it is not a stream. EFOS_E_NOTFOUND for a free or absent object. */
int pdf_get(struct pdf_doc *d, unsigned num, struct pdf_obj **out, const unsigned char **stream_at, efos_err *e);
/* o itself, or the object a reference points at (NULL with e set). */
struct pdf_obj *pdf_resolve(struct pdf_doc *d, struct pdf_obj *o, efos_err *e);
/* The catalog dictionary. */
int pdf_root(struct pdf_doc *d, struct pdf_obj **root, efos_err *e);
/* The newest trailer (or xref stream) dictionary. */
struct pdf_obj *pdf_trailer(struct pdf_doc *d);
/* zlib inflate, bounded (64 MiB); *out malloc'd. */
int pdf_inflate(const unsigned char *in, size_t in_len, unsigned char **out, size_t *out_len, efos_err *e);

#endif
