/* Recovery: the token disappears under a running process and comes back; the probe goes red
 * (EFOS_E_UNAVAILABLE, no crash, no hang) and green again without reopening anything.
 *
 * HOW TO MAKE A SOFTHSM TOKEN DISAPPEAR (the /healthz integration test does the same):
 *   SoftHSM keeps each token in a directory under `directories.tokendir` of $SOFTHSM2_CONF,
 *   named by the token's UUID (e.g. tokens/5421d14a-676d-343c-614d-aa4bb2c57abd/).
 *   1. find it:    dirname "$(grep -l efos-hsm "$tokendir"/[0-9a-f]*[0-9a-f]/token.object)"
 *   2. remove it:  mv "$tokendir/$uuid" "$somewhere_outside_tokendir/$uuid"
 *                  (a running SoftHSM then fails C_Sign/C_FindObjects on that token with
 *                  CKR_* errors; after our re-initialisation the token is not listed at all)
 *   3. restore it: mv "$somewhere_outside_tokendir/$uuid" "$tokendir/$uuid"
 *   Move it outside the tokendir: SoftHSM takes every directory inside tokendir as a token.
 *   The test below uses a token of its own in its own SOFTHSM2_CONF, so that it does not
 *   pull the shared test token from under tests running in parallel. */
#include <dirent.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/objects.h>
#include "test_hsm_common.h"

#define LABEL "efos-recovery"
#define PIN "4321"

static char dir[256], tokendir[300], away[300], moved_name[600], moved_away[1024];

static void sh(const char *cmd)
{
	if (system(cmd) != 0)
		fail_msg("command failed: %s", cmd);
}

static int setup(void **state)
{
	char cmd[4096], conf[300];
	snprintf(dir, sizeof dir, "%s/hsm-recovery-%d", test_env("EFOS_TEST_DIR"), (int)getpid());
	snprintf(tokendir, sizeof tokendir, "%s/tokens", dir);
	snprintf(away, sizeof away, "%s/away", dir);
	snprintf(conf, sizeof conf, "%s/softhsm2.conf", dir);
	snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s' '%s' && printf 'directories.tokendir = %s\\n"
		 "objectstore.backend = file\\nlog.level = ERROR\\nslots.removable = false\\n' > '%s'",
		 dir, tokendir, away, tokendir, conf);
	sh(cmd);
	setenv("SOFTHSM2_CONF", conf, 1);
	snprintf(cmd, sizeof cmd, "softhsm2-util --init-token --free --label %s --so-pin 87654321 --pin %s >/dev/null",
		 LABEL, PIN);
	sh(cmd);
	return 0;
}

static int teardown(void **state)
{
	char cmd[700];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	sh(cmd);
	return 0;
}

/* The one token directory under dir (tokendir or away). */
static void token_subdir(const char *parent, char *out, size_t cap)
{
	DIR *d = opendir(parent);
	struct dirent *de;
	out[0] = '\0';
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' && strlen(parent) + strlen(de->d_name) + 2 <= cap)
			sprintf(out, "%s/%s", parent, de->d_name);
	closedir(d);
	assert_true(out[0] != '\0');
}

static void token_remove(void)
{
	token_subdir(tokendir, moved_name, sizeof moved_name);
	snprintf(moved_away, sizeof moved_away, "%s/%s", away, strrchr(moved_name, '/') + 1);
	assert_int_equal(rename(moved_name, moved_away), 0);
}

static void token_restore(void)
{
	assert_int_equal(rename(moved_away, moved_name), 0);
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

static void test_token_disappears_and_returns(void **state)
{
	struct hsm *h = NULL;
	struct hsm_key *probe = NULL;
	struct hsm_stats st;
	efos_err e = { 0 };
	char uri[] = "pkcs11:token=" LABEL;

	if (hsm_open(test_env("EFOS_TEST_HSM_MODULE"), uri, PIN, 2, &h, &e) != 0)
		fail_msg("hsm_open: %s", e.msg);
	/* a token object: session objects do not survive a re-initialisation */
	struct hsm_keygen_params p = { .kind = HSM_KEY_EC, .curve_nid = NID_X9_62_prime256v1,
				       .label = "probe", .token_object = true };
	assert_int_equal(hsm_keygen(h, &p, &probe, &e), 0);
	assert_int_equal(hsm_probe(h, probe, &e), 0);
	hsm_get_stats(h, &st);
	assert_true(st.probe_ok);

	token_remove();
	for (int i = 0; i < 3; i++) {
		long t0 = now_ms();
		efos_err_clear(&e);
		assert_int_equal(hsm_probe(h, probe, &e), -1);
		print_message("# token away, probe %d: %s (%ld ms)\n", i, e.msg, now_ms() - t0);
		assert_int_equal(e.code, EFOS_E_UNAVAILABLE);
		assert_true(now_ms() - t0 < 5000);
		hsm_get_stats(h, &st);
		assert_false(st.probe_ok);
		usleep(250 * 1000);
	}
	hsm_get_stats(h, &st);
	assert_true(st.recoveries >= 1);
	assert_int_equal(st.sessions_busy, 0);

	token_restore();
	/* Re-initialisation is rate-limited (HSM_REINIT_MIN_MS); the probe that follows after
	 * that interval must find the token again. */
	usleep(300 * 1000);
	efos_err_clear(&e);
	if (hsm_probe(h, probe, &e) != 0)
		fail_msg("probe after the token returned: %s", e.msg);
	hsm_get_stats(h, &st);
	assert_true(st.probe_ok);
	/* and normal work goes on */
	unsigned char dgst[32] = { 7 }, sig[128];
	size_t siglen;
	assert_int_equal(hsm_sign_digest(probe, EVP_sha256(), HSM_PAD_ECDSA, HSM_SIG_DER, dgst, 32, sig, &siglen, &e), 0);
	assert_true(test_verify_digest(hsm_key_public(probe), EVP_sha256(), HSM_PAD_ECDSA, dgst, 32, sig, siglen));

	assert_int_equal(hsm_key_destroy(probe, &e), 0);
	hsm_close(h);
}

/* Eight threads sign through a pool of three while the token goes away and comes back:
 * nobody hangs or crashes, failures are EFOS_E_UNAVAILABLE, and everyone succeeds again. */
struct hammer {
	struct hsm_key *k;
	volatile int *stop;
	int ok, unavailable, other;
	char other_msg[EFOS_ERR_MSG_MAX];
};

static void *hammer_main(void *arg)
{
	struct hammer *w = arg;
	while (!*w->stop) {
		unsigned char dgst[32] = { 1 }, sig[128];
		size_t siglen;
		efos_err e = { 0 };
		if (hsm_sign_digest(w->k, EVP_sha256(), HSM_PAD_ECDSA, HSM_SIG_DER, dgst, 32, sig, &siglen, &e) == 0)
			w->ok++;
		else if (e.code == EFOS_E_UNAVAILABLE)
			w->unavailable++;
		else {
			w->other++;
			snprintf(w->other_msg, sizeof w->other_msg, "%s", e.msg);
		}
		usleep(2000);
	}
	return NULL;
}

static void test_outage_under_load(void **state)
{
	struct hsm *h = NULL;
	struct hsm_key *k = NULL;
	efos_err e = { 0 };
	pthread_t t[8];
	struct hammer w[8];
	volatile int stop = 0;

	if (hsm_open(test_env("EFOS_TEST_HSM_MODULE"), "pkcs11:token=" LABEL, PIN, 3, &h, &e) != 0)
		fail_msg("hsm_open: %s", e.msg);
	struct hsm_keygen_params p = { .kind = HSM_KEY_EC, .curve_nid = NID_X9_62_prime256v1,
				       .label = "load", .token_object = true };
	assert_int_equal(hsm_keygen(h, &p, &k, &e), 0);
	for (int i = 0; i < 8; i++) {
		w[i] = (struct hammer){ .k = k, .stop = &stop };
		pthread_create(&t[i], NULL, hammer_main, &w[i]);
	}
	usleep(200 * 1000);
	token_remove();
	usleep(600 * 1000);
	token_restore();
	usleep(400 * 1000);
	int before[8];
	for (int i = 0; i < 8; i++)
		before[i] = w[i].ok;
	usleep(300 * 1000);
	stop = 1;
	int unavailable = 0;
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		if (w[i].other)
			fail_msg("thread %d: unexpected failure: %s", i, w[i].other_msg);
		assert_true(w[i].ok > before[i]); /* signing again after the token returned */
		unavailable += w[i].unavailable;
	}
	assert_true(unavailable > 0);
	print_message("# outage under load: %d signatures refused as unavailable\n", unavailable);
	struct hsm_stats st;
	hsm_get_stats(h, &st);
	assert_int_equal(st.sessions_busy, 0);
	assert_int_equal(hsm_key_destroy(k, &e), 0);
	hsm_close(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_disappears_and_returns),
		cmocka_unit_test(test_outage_under_load),
	};
	return cmocka_run_group_tests_name("hsm_recovery", tests, setup, teardown);
}
