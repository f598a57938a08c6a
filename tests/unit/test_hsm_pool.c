/* 32 threads sign at once through a pool of 4 sessions; every signature (KRSA PKCS#1, KRSA-PSS,
 * ECDSA) is verified with the public key by OpenSSL. */
#include <pthread.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include "test_hsm_common.h"

#define THREADS 32
#define PER_THREAD 12
#define POOL 4

static struct hsm *H;
static struct hsm_key *KRSA, *KEC;

struct worker {
	int idx;
	int ok, bad;
	char err[EFOS_ERR_MSG_MAX];
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < PER_THREAD; i++) {
		static const enum hsm_padding pads[] = { HSM_PAD_PKCS1, HSM_PAD_PSS, HSM_PAD_ECDSA };
		enum hsm_padding pad = pads[(w->idx + i) % 3];
		struct hsm_key *k = pad == HSM_PAD_ECDSA ? KEC : KRSA;
		unsigned char msg[64], dgst[32], sig[512];
		unsigned int dlen;
		size_t siglen;
		efos_err e = { 0 };
		RAND_bytes(msg, sizeof msg);
		if (hsm_sign(k, EVP_sha256(), pad, HSM_SIG_DER, msg, sizeof msg, sig, &siglen, &e) != 0) {
			w->bad++;
			snprintf(w->err, sizeof w->err, "%s", e.msg);
			continue;
		}
		EVP_Digest(msg, sizeof msg, dgst, &dlen, EVP_sha256(), NULL);
		if (test_verify_digest(hsm_key_public(k), EVP_sha256(), pad, dgst, dlen, sig, siglen))
			w->ok++;
		else {
			w->bad++;
			snprintf(w->err, sizeof w->err, "signature %d (padding %d) does not verify", i, pad);
		}
	}
	return NULL;
}

static void test_concurrent_signing(void **state)
{
	pthread_t t[THREADS];
	struct worker w[THREADS];
	struct hsm_stats st;
	hsm_get_stats(H, &st);
	long ops0 = st.ops;

	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .idx = i };
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	int ok = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		if (w[i].bad)
			fail_msg("thread %d: %d failures, last: %s", i, w[i].bad, w[i].err);
		ok += w[i].ok;
	}
	assert_int_equal(ok, THREADS * PER_THREAD);
	hsm_get_stats(H, &st);
	assert_int_equal(st.ops - ops0, THREADS * PER_THREAD);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.sessions, POOL);
	assert_int_equal(st.sessions_busy, 0);
	assert_int_equal(st.recoveries, 0);
}

static int setup(void **state)
{
	H = test_hsm_open(POOL);
	KRSA = test_session_key(H, HSM_KEY_RSA, 2048, "test-pool-rsa");
	KEC = test_session_key(H, HSM_KEY_EC, NID_X9_62_prime256v1, "test-pool-ec");
	return 0;
}

static int teardown(void **state)
{
	hsm_key_free(KRSA);
	hsm_key_free(KEC);
	hsm_close(H);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrent_signing),
	};
	return cmocka_run_group_tests_name("hsm_pool", tests, setup, teardown);
}
