/* The symmetric layer of XML Encryption as EFOS receives it: AES-CBC (16-byte IV first, XML-Enc
 * padding whose last byte counts the bytes to drop, 1..16) or AES-GCM (12-byte IV first, 16-byte
 * tag last). Shared by the IdP (encrypted SignMessage) and the signing service (encrypted
 * assertions), so both refuse the same malformed or tampered ciphertexts. */
#ifndef EFOS_CORE_XMLENC_AES_H
#define EFOS_CORE_XMLENC_AES_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/evp.h>

enum {
	XMLENC_AES_OK = 0,
	XMLENC_AES_BAD = -1,   /* too short, misaligned, wrong tag or padding: tampered or wrong key */
	XMLENC_AES_OOM = -2,
};

/* Decrypts in[0..len) (IV || ciphertext [|| tag]) with key (c's key length) into a malloc'd
 * buffer with a NUL after the *outlen bytes. Returns one of the XMLENC_AES_ values. */
int xmlenc_aes_decrypt(const EVP_CIPHER *c, bool gcm, const unsigned char *key, const unsigned char *in,
		       size_t len, unsigned char **out, size_t *outlen);

#endif
