/* Pieces every reader of SAML metadata needs, shared by idp/metadata_store.c (SP metadata the
 * IdP consumes) and signer/idp_md.c (IdP metadata the signing service consumes), so the two
 * apply the same rules:
 *   - the public key of a KeyDescriptor's ds:X509Certificate, read straight from its
 *     SubjectPublicKeyInfo (fast; MetaIOP: only the key matters), RSA >= 2048 or EC P-256/384/521;
 *   - the signature on the root element of a metadata document (federation feeds), checked with
 *     core/xml's strict verifier against configured keys (Reference "#ID" or "");
 *   - xs:dateTime as metadata writes it (validUntil). */
#ifndef EFOS_CORE_SAML_MD_H
#define EFOS_CORE_SAML_MD_H

#include <stddef.h>
#include <time.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include "core/err.h"

/* The public key of a base64 DER certificate (XML whitespace allowed); strength checked.
 * NULL with why (a sentence) set when it is not a certificate or its key is refused. */
EVP_PKEY *saml_md_key_from_cert_b64(const char *b64, char *why, size_t cap);

/* Registers the SAML IDs of doc and verifies the one ds:Signature on its root element with any
 * of keys. src names the document in messages. 0, or -1 with e (EFOS_E_AUTH / EFOS_E_INVALID). */
int saml_md_verify_root(xmlDocPtr doc, EVP_PKEY *const *keys, size_t nkeys, const char *src, efos_err *e);

/* xs:dateTime ("2026-01-31T12:00:00Z"; fractions and +hh:mm offsets accepted; no zone is taken
 * as UTC). -1 when malformed. */
int saml_md_parse_datetime(const char *s, time_t *out);

#endif
