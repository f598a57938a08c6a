/* Memory of successful path validations: see validate_memo.h. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/asn1.h>
#include <openssl/evp.h>
#include "certs/validate_memo.h"

#define MEMO_SLOTS 64
#define MEMO_TTL_S 300

struct memo_slot {
	bool used;
	unsigned char key[32];
	time_t until;
	struct path_memo_result r;
};

static pthread_mutex_t memo_lock = PTHREAD_MUTEX_INITIALIZER;
static struct memo_slot slots[MEMO_SLOTS];
static unsigned next_slot;
static unsigned long hits;

unsigned long path_memo_hits(void)
{
	pthread_mutex_lock(&memo_lock);
	unsigned long h = hits;
	pthread_mutex_unlock(&memo_lock);
	return h;
}

static void result_free(struct path_memo_result *r)
{
	sk_X509_pop_free(r->chain, X509_free);
	free(r->validated);
	memset(r, 0, sizeof *r);
}

/* A deep enough copy: the chain's certificates are shared (reference counted), the rest copied. */
static bool result_copy(const struct path_memo_result *from, struct path_memo_result *to)
{
	memset(to, 0, sizeof *to);
	to->chain = X509_chain_up_ref(from->chain);
	to->validated = calloc(from->n_validated + 1, sizeof *to->validated);
	if (to->chain == NULL || to->validated == NULL) {
		result_free(to);
		return false;
	}
	if (from->n_validated > 0)
		memcpy(to->validated, from->validated, from->n_validated * sizeof *to->validated);
	to->n_validated = from->n_validated;
	to->purpose_depth = from->purpose_depth;
	to->policy_failed = from->policy_failed;
	return true;
}

static bool add_stack(EVP_MD_CTX *md, STACK_OF(X509) *s, char tag)
{
	unsigned char fp[EVP_MAX_MD_SIZE];
	unsigned int n;
	if (EVP_DigestUpdate(md, &tag, 1) != 1)
		return false;
	for (int i = 0; i < sk_X509_num(s); i++)
		if (X509_digest(sk_X509_value(s, i), EVP_sha256(), fp, &n) != 1 || EVP_DigestUpdate(md, fp, n) != 1)
			return false;
	return true;
}

bool path_memo_key(X509 *leaf, STACK_OF(X509) *anchors, STACK_OF(X509) *intermediates,
		   STACK_OF(X509) *untrusted, int purpose, const char *policy, unsigned char key[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char fp[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char tail[16];
	int tl = snprintf(tail, sizeof tail, "|%d|", purpose);
	bool ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
		  X509_digest(leaf, EVP_sha256(), fp, &n) == 1 && EVP_DigestUpdate(md, fp, n) == 1 &&
		  add_stack(md, anchors, 'A') && add_stack(md, intermediates, 'I') && add_stack(md, untrusted, 'U') &&
		  EVP_DigestUpdate(md, tail, (size_t)tl) == 1 &&
		  EVP_DigestUpdate(md, policy ? policy : "", policy ? strlen(policy) : 0) == 1 &&
		  EVP_DigestFinal_ex(md, key, &n) == 1 && n == 32;
	EVP_MD_CTX_free(md);
	return ok;
}

/* The earliest notAfter of the chain (0 when one cannot be read: do not remember). */
static time_t chain_not_after(STACK_OF(X509) *chain)
{
	time_t min = 0;
	for (int i = 0; i < sk_X509_num(chain); i++) {
		struct tm tm;
		if (ASN1_TIME_to_tm(X509_get0_notAfter(sk_X509_value(chain, i)), &tm) != 1)
			return 0;
		time_t t = timegm(&tm);
		if (min == 0 || t < min)
			min = t;
	}
	return min;
}

bool path_memo_get(const unsigned char key[32], time_t now, struct path_memo_result *out)
{
	bool hit = false;
	pthread_mutex_lock(&memo_lock);
	for (unsigned i = 0; i < MEMO_SLOTS && !hit; i++) {
		struct memo_slot *s = &slots[i];
		if (!s->used || memcmp(s->key, key, 32) != 0)
			continue;
		if (now >= s->until) {
			result_free(&s->r);
			s->used = false;
			break;
		}
		hit = result_copy(&s->r, out);
	}
	if (hit)
		hits++;
	pthread_mutex_unlock(&memo_lock);
	return hit;
}

void path_memo_put(const unsigned char key[32], time_t now, const struct path_memo_result *res)
{
	time_t na = chain_not_after(res->chain);
	if (na <= now)
		return;
	time_t until = now + MEMO_TTL_S < na ? now + MEMO_TTL_S : na;
	struct path_memo_result copy;
	if (!result_copy(res, &copy))
		return;
	pthread_mutex_lock(&memo_lock);
	struct memo_slot *s = NULL;
	for (unsigned i = 0; i < MEMO_SLOTS && s == NULL; i++)
		if (slots[i].used && memcmp(slots[i].key, key, 32) == 0)
			s = &slots[i];
	if (s == NULL) {
		s = &slots[next_slot];
		next_slot = (next_slot + 1) % MEMO_SLOTS;
	}
	if (s->used)
		result_free(&s->r);
	memcpy(s->key, key, 32);
	s->until = until;
	s->r = copy;
	s->used = true;
	pthread_mutex_unlock(&memo_lock);
}

void path_memo_clear(void)
{
	pthread_mutex_lock(&memo_lock);
	for (unsigned i = 0; i < MEMO_SLOTS; i++)
		if (slots[i].used) {
			result_free(&slots[i].r);
			slots[i].used = false;
		}
	pthread_mutex_unlock(&memo_lock);
}
