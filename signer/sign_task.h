/* Signs the SignTaskData of a federated signing request (spec §7.3, DSS extension 09) with
 * the per-request key (signer/signer_cert.h):
 *   XML  ToBeSignedBytes = the c14n ds:SignedInfo: hashed and signed (RSA PKCS#1 v1.5,
 *        RSA-PSS per RFC 6931/xmldsig11, ECDSA with raw r||s). With AdESType BES/EPES and an
 *        AdESObject the XAdES SigningCertificateV2 and the SignedProperties reference digest
 *        are updated first (signer/xades.h) and the new SignedInfo is signed and returned.
 *   PDF / CMS  ToBeSignedBytes = DER SignedAttributes (SET): parsed (bounded), content-type
 *        and message-digest required; ESS signingCertificateV2 (RFC 5035) for our certificate
 *        added or replaced for BES/EPES and always for PDF; re-encoded as DER (SET OF sorted),
 *        hashed and signed (ECDSA DER-encoded). */
#ifndef EFOS_SIGNER_SIGN_TASK_H
#define EFOS_SIGNER_SIGN_TASK_H

#include <stddef.h>
#include <openssl/x509.h>
#include "core/err.h"
#include "signer/dss.h"

struct hsm_key;

/* Largest ToBeSignedBytes / AdESObject accepted (bytes). */
#define SIGN_TASK_MAX_TBS (256 * 1024)

/* Signs each task with key/cert per its SigType and AdESType and sets sig (malloc'd), sig_len,
 * sig_alg_uri (and tbs / ades_object + tbs_changed when it updated them). sig_alg: the
 * request's RequestedSignatureAlgorithm URI; it must fit the key. On failure res is set
 * (NotSupported for an unknown algorithm or one the key cannot do; RequesterError/GeneralError
 * naming the task for malformed ToBeSignedBytes; ResponderError/GeneralError when the HSM
 * fails) and no task is left half-signed (sig of every task freed). */
int sign_tasks(struct hsm_key *key, X509 *cert, const char *sig_alg, struct dss_sign_task *tasks,
	       size_t n, struct dss_result *res, efos_err *e);

/* The digest and padding of a signature algorithm URI (XML-DSig / RFC 6931 / RFC 9231
 * names): rsa-sha256/384/512, rsa-pss sha256/384/512 (xmldsig-more#sha256-rsa-MGF1 ...),
 * ecdsa-sha256/384/512. 0 on success, -1 when unknown. *is_ec tells the key type needed. */
int sign_alg_lookup(const char *uri, const EVP_MD **md, int *pss, int *is_ec);

#endif
