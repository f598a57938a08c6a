/* XML Encryption of the Assertion for one SP (spec §1.6, §1.10; DESIGN interop fact), done
 * with OpenSSL EVP directly: the SP's key is the EVP_PKEY parsed once by the metadata store,
 * so there is no per-request key loading and no xmlsec key manager.
 *
 * Data algorithm: from the SP's md:EncryptionMethod list, in OUR preference order
 *   aes256-gcm > aes128-gcm > aes256-cbc > aes128-cbc (never aes192);
 * when the SP lists none of those (or nothing): aes256-cbc (mandatory algorithm).
 * Key transport: the first one the SP lists that we support, with its declared digest:
 *   xmlenc#rsa-oaep-mgf1p (+ ds:DigestMethod sha1/sha256/sha384/sha512, default sha1; MGF1-SHA1)
 *   xmlenc11#rsa-oaep     (+ ds:DigestMethod, default sha1; + xenc11:MGF, default mgf1sha1)
 * when the SP lists none: rsa-oaep-mgf1p with SHA-1 (what every SP can unwrap).
 * The SP key must be RSA >= 2048 bits (the first such among its encryption keys is used).
 *
 * Output shape (what OpenSAML, Lasso and xmlsec1 --decrypt read):
 *   <saml:EncryptedAssertion>
 *     <xenc:EncryptedData Type="http://www.w3.org/2001/04/xmlenc#Element">
 *       <xenc:EncryptionMethod Algorithm=DATA/>
 *       <ds:KeyInfo><xenc:EncryptedKey Recipient=SP>
 *           <xenc:EncryptionMethod Algorithm=KT><ds:DigestMethod .../>[<xenc11:MGF/>]</xenc:EncryptionMethod>
 *           <xenc:CipherData><xenc:CipherValue>...</xenc:CipherValue></xenc:CipherData>
 *       </xenc:EncryptedKey></ds:KeyInfo>
 *       <xenc:CipherData><xenc:CipherValue>IV || ciphertext [|| GCM tag]</xenc:CipherValue></xenc:CipherData>
 *     </xenc:EncryptedData>
 *   </saml:EncryptedAssertion> */
#ifndef EFOS_IDP_XMLENC_H
#define EFOS_IDP_XMLENC_H

#include <stddef.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include "core/err.h"

struct idp_sp;

#define XENC_AES128_CBC "http://www.w3.org/2001/04/xmlenc#aes128-cbc"
#define XENC_AES256_CBC "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
#define XENC_AES128_GCM "http://www.w3.org/2009/xmlenc11#aes128-gcm"
#define XENC_AES256_GCM "http://www.w3.org/2009/xmlenc11#aes256-gcm"
#define XENC_RSA_OAEP_MGF1P "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
#define XENC11_RSA_OAEP "http://www.w3.org/2009/xmlenc11#rsa-oaep"

struct idp_enc_choice {
	const char *data_alg;     /* XENC_AES* (static) */
	const char *kt_alg;       /* XENC_RSA_OAEP_MGF1P or XENC11_RSA_OAEP (static) */
	const char *oaep_digest;  /* digest URI (static), e.g. http://www.w3.org/2000/09/xmldsig#sha1 */
	const char *mgf;          /* xenc11 MGF URI (static) for XENC11_RSA_OAEP, else NULL */
	EVP_PKEY *key;            /* the SP's RSA encryption key (borrowed from the snapshot) */
};

/* Chooses algorithms and key for sp. EFOS_E_INVALID when the SP has no usable RSA key (answer
 * Requester/RequestDenied; intake normally catches it). */
int idp_xmlenc_choose(const struct idp_sp *sp, struct idp_enc_choice *out, efos_err *e);

/* Encrypts the element `elem` (serialised as it stands, with the namespace declarations in
 * scope) and returns a new saml:EncryptedAssertion element created in doc `into` (not yet
 * linked; the caller adds it). recipient: the EncryptedKey/@Recipient (the SP's entityID) or NULL. */
int idp_xmlenc_encrypt_assertion(xmlNodePtr elem, const struct idp_enc_choice *c, const char *recipient,
				 xmlDocPtr into, xmlNodePtr *out, efos_err *e);

#endif
