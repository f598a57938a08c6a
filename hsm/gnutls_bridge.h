/* A GnuTLS private key whose signatures go to the HSM: lets the HTTPS server (libmicrohttpd,
 * GnuTLS) sign TLS handshakes with a key that never leaves the token. Uses only hsm/hsm.h. */
#ifndef EFOS_HSM_GNUTLS_BRIDGE_H
#define EFOS_HSM_GNUTLS_BRIDGE_H

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include "core/err.h"

struct hsm_key;

/* A gnutls_privkey_t (gnutls_privkey_import_ext4) signing through hsm_sign_digest():
 * RSA PKCS#1 v1.5 and RSA-PSS (TLS 1.2 and 1.3), ECDSA (DER). SHA-1 signatures are refused.
 * The caller gnutls_privkey_deinit()s it; k must outlive it. */
int hsm_gnutls_privkey(struct hsm_key *k, gnutls_privkey_t *out, efos_err *e);

#endif
