/* Base64 with OpenSSL's block coder: see base64.h. */
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "core/base64.h"

char *b64_encode(const unsigned char *d, size_t n)
{
	if (n > (size_t)1 << 30)   /* EVP_EncodeBlock counts in int */
		return NULL;
	char *s = malloc(4 * ((n + 2) / 3) + 1);
	if (s != NULL)
		EVP_EncodeBlock((unsigned char *)s, d, (int)n);
	return s;
}

unsigned char *b64_decode(const char *s, size_t *outlen)
{
	size_t n = strlen(s), k = 0;
	char *clean = malloc(n + 1);
	unsigned char *out = NULL;
	if (clean == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n')
			continue;
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      ch == '+' || ch == '/' || ch == '='))
			goto out;
		clean[k++] = (char)ch;
	}
	if (k % 4 != 0 || k > (size_t)1 << 30)
		goto out;
	if ((out = malloc(k / 4 * 3 + 1)) == NULL)
		goto out;
	*outlen = 0;
	out[0] = '\0';
	if (k == 0)
		goto out;
	int len = EVP_DecodeBlock(out, (const unsigned char *)clean, (int)k);
	size_t pad = (clean[k - 1] == '=') + (clean[k - 2] == '=');
	if (len < 0 || (size_t)len < pad) {
		free(out);
		out = NULL;
		goto out;
	}
	*outlen = (size_t)len - pad;
	out[*outlen] = '\0';
out:
	free(clean);
	return out;
}
