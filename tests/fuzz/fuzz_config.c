/* libFuzzer: the configuration file (core/config.h). The input is the file's content, written
 * to DIR/efos.conf (DIR: a private temporary directory made at start-up and removed at exit)
 * and read by config_load(). DIR holds the files and directories a good configuration names
 * by relative path (tls.crt, tls.key, client-ca.crt, hsm.so, hsm.pin with mode 0600, state/,
 * db/, profiles.conf, anchors.pem), so that seeds get past the file checks and reach defaults
 * and cross-key checks. A configuration that loads is printed (to /dev/null), its roles
 * queried, and the HSM PIN it names read with config_read_secret (hsm.pin_env: the variable
 * EFOS_FUZZ_PIN is set). The operator writes this file, but a typo must still only ever give
 * an error message: nothing may crash, leak or read out of bounds, and a file holding a NUL
 * byte is refused. */
#include <fcntl.h>
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/config.h"
#include "core/log.h"

static char dir[64];
static char conf[96];
static FILE *devnull;

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void cleanup(void)
{
	if (dir[0] != '\0')
		nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void put(const char *name, const char *text, mode_t mode)
{
	char p[160];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fchmod(fd, mode) != 0)
		abort();
	close(fd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init("fuzz", LOG_LVL_ERROR);
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/efos-fuzz-config.XXXXXX", tmp && *tmp && strlen(tmp) < 30 ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		abort();
	atexit(cleanup);
	snprintf(conf, sizeof conf, "%s/efos.conf", dir);
	put("tls.crt", "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n", 0644);
	put("tls.key", "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n", 0600);
	put("client-ca.crt", "", 0644);
	put("anchors.pem", "", 0644);
	put("profiles.conf", "[card-auth]\n", 0644);
	put("hsm.so", "", 0755);
	put("hsm.pin", "1234\n", 0600);
	put("db.pw", "secret\n", 0640);
	put("world.pin", "1234\n", 0644);   /* a secret every user can read: refused */
	char p[160];
	snprintf(p, sizeof p, "%s/state", dir);
	if (mkdir(p, 0700) != 0)
		abort();
	snprintf(p, sizeof p, "%s/db", dir);
	if (mkdir(p, 0700) != 0)
		abort();
	setenv("EFOS_FUZZ_PIN", "1234", 1);
	if ((devnull = fopen("/dev/null", "we")) == NULL)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* config_load refuses files over 1 MiB itself; the fuzzer's -max_len keeps inputs smaller. */
	int fd = open(conf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		abort();
	size_t off = 0;
	while (off < size) {
		ssize_t w = write(fd, data + off, size - off);
		if (w <= 0)
			abort();
		off += (size_t)w;
	}
	close(fd);

	struct efos_config cfg;
	efos_err e = { 0 };
	if (config_load(conf, &cfg, &e) != 0) {
		if (e.msg[0] == '\0')
			abort();   /* every refusal says why */
		return 0;
	}
	/* A NUL byte anywhere is refused ("contains a NUL byte"): it used to cut its line short
	 * unnoticed, let a longer line's tail be read as a line of its own and slip past the
	 * file size limit. */
	if (memchr(data, '\0', size) != NULL)
		abort();
	config_print(&cfg, devnull);
	(void)config_has_role(&cfg, "ca");
	(void)config_has_role(&cfg, "idp");
	char *pin = NULL;
	if (config_read_secret(cfg.hsm_pin_file, cfg.hsm_pin_env, false, &pin, &e) == 0)
		efos_free_secret(pin);
	config_free(&cfg);
	return 0;
}
