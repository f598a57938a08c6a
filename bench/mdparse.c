/* mdparse: the metadata benchmark's measuring tool (bench/6-metadata.sh; no bench_ prefix, so
 * scripts/run-bench.sh does not run it on its own). Reads a signed aggregate, verifies and
 * indexes it with idp_md_parse() exactly as efosd's metadata store does for a federation feed
 * (signature required, validUntil required), and prints the wall-clock and CPU seconds, the
 * entities kept and skipped, and the process's resident memory before, at its peak and after
 * the batch is freed.
 *
 *   mdparse AGGREGATE.xml SIGNER-CERT.pem [ROUNDS]     */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include "core/err.h"
#include <libxml/parser.h>
#include "idp/metadata_store.h"

static double now_s(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* VmRSS or VmHWM of this process in MB (-1 when /proc is not there). */
static double status_mb(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	double v = -1;
	size_t kl = strlen(key);
	while (f != NULL && fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, key, kl) == 0 && line[kl] == ':')
			v = strtod(line + kl + 1, NULL) / 1024.0;
	if (f != NULL)
		fclose(f);
	return v;
}

/* Resets VmHWM to the current RSS (Linux: writing 5 to clear_refs). */
static void reset_hwm(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");
	if (f != NULL) {
		fputs("5", f);
		fclose(f);
	}
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: mdparse AGGREGATE.xml SIGNER-CERT.pem [ROUNDS]\n");
		return 2;
	}
	int rounds = argc > 3 ? atoi(argv[3]) : 1;
	if (rounds < 1 || rounds > 100)
		rounds = 1;
	efos_err e = { 0 };
	xmlInitParser();
	EVP_PKEY **keys = NULL;
	size_t nkeys = 0;
	if (idp_md_load_trusted_keys(&argv[2], 1, ".", &keys, &nkeys, &e) != 0) {
		fprintf(stderr, "mdparse: %s\n", e.msg);
		return 2;
	}
	FILE *f = fopen(argv[1], "rb");
	if (f == NULL) {
		fprintf(stderr, "mdparse: cannot open %s\n", argv[1]);
		return 2;
	}
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = len > 0 ? malloc((size_t)len) : NULL;
	if (buf == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "mdparse: cannot read %s\n", argv[1]);
		return 2;
	}
	fclose(f);
	int rc = 0;
	for (int r = 0; r < rounds; r++) {
		double rss0 = status_mb("VmRSS");
		reset_hwm();
		struct idp_md_parse_opts o = { .source = argv[1], .max_bytes = 256u << 20, .require_signature = true,
					       .trusted_keys = keys, .n_trusted_keys = nkeys, .require_valid_until = true,
					       .now = time(NULL) };
		struct idp_md_batch *b = NULL;
		size_t skipped = 0;
		double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
		if (idp_md_parse(buf, (size_t)len, &o, &b, &skipped, &e) != 0) {
			fprintf(stderr, "mdparse: %s\n", e.msg);
			return 1;
		}
		double w1 = now_s(CLOCK_MONOTONIC), c1 = now_s(CLOCK_PROCESS_CPUTIME_ID);
		double peak = status_mb("VmHWM"), held = status_mb("VmRSS");
		size_t n = idp_md_batch_count(b);
		idp_md_batch_free(b);
		printf("mdparse seconds=%.3f cpu_seconds=%.3f entities=%zu skipped=%zu bytes=%ld rss_before_MB=%.1f "
		       "peak_rss_MB=%.1f rss_with_batch_MB=%.1f rss_after_free_MB=%.1f\n",
		       w1 - w0, c1 - c0, n, skipped, len, rss0, peak, held, status_mb("VmRSS"));
		if (n == 0)
			rc = 1;
	}
	free(buf);
	idp_md_free_keys(keys, nkeys);
	return rc;
}
