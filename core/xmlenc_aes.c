/* XML Encryption's AES layer: see xmlenc_aes.h. */
#include <stdlib.h>
#include "core/err.h"
#include "core/xmlenc_aes.h"

int xmlenc_aes_decrypt(const EVP_CIPHER *c, bool gcm, const unsigned char *key, const unsigned char *in,
		       size_t len, unsigned char **out, size_t *outlen)
{
	size_t ivlen = gcm ? 12 : 16, taglen = gcm ? 16 : 0;
	*out = NULL;
	if (len < ivlen + taglen + (gcm ? 0 : 16) || (!gcm && (len - ivlen) % 16 != 0))
		return XMLENC_AES_BAD;
	size_t ctlen = len - ivlen - taglen;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	unsigned char *buf = malloc(ctlen + 32);
	int n1 = 0, n2 = 0, ret = XMLENC_AES_BAD;
	if (ctx == NULL || buf == NULL) {
		ret = XMLENC_AES_OOM;
		goto out;
	}
	if (EVP_DecryptInit_ex(ctx, c, NULL, NULL, NULL) != 1 ||
	    (gcm && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, (int)ivlen, NULL) != 1) ||
	    EVP_DecryptInit_ex(ctx, NULL, NULL, key, in) != 1 || EVP_CIPHER_CTX_set_padding(ctx, 0) != 1 ||
	    EVP_DecryptUpdate(ctx, buf, &n1, in + ivlen, (int)ctlen) != 1 ||
	    (gcm && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, (int)taglen, (void *)(in + len - taglen)) != 1) ||
	    EVP_DecryptFinal_ex(ctx, buf + n1, &n2) != 1)
		goto out;
	size_t n = (size_t)n1 + (size_t)n2;
	if (!gcm) {   /* XML-Enc padding: the last byte says how many bytes to drop (1..16) */
		unsigned pad = n ? buf[n - 1] : 0;
		if (pad < 1 || pad > 16 || pad > n)
			goto out;
		n -= pad;
	}
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	buf = NULL;
	ret = XMLENC_AES_OK;
out:
	if (buf != NULL) {
		efos_wipe(buf, ctlen + 32);
		free(buf);
	}
	EVP_CIPHER_CTX_free(ctx);
	return ret;
}
