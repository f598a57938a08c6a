/* alloc-count.so: counts the calls to malloc, calloc, realloc (and posix_memalign,
 * aligned_alloc) of a process it is preloaded into, for the "allocations per login" note of
 * `make bench` (bench/2-logins.sh). The count lives in a file mapped MAP_SHARED
 * ($EFOS_ALLOC_COUNT_FILE, one uint64), so the benchmark reads it with od while the process runs:
 * no thread, no signal, one relaxed atomic add per allocation.
 *
 * Built by bench/lib-bench.sh:  cc -shared -fPIC -O2 -o alloc-count.so alloc-count.c
 * The real allocator is glibc's (__libc_malloc & co.), so dlsym's own allocations cannot
 * recurse. Not part of the product. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static uint64_t dummy;
static uint64_t *count = &dummy;

__attribute__((constructor)) static void alloc_count_init(void)
{
	const char *path = getenv("EFOS_ALLOC_COUNT_FILE");
	if (path == NULL)
		return;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (ftruncate(fd, sizeof(uint64_t)) == 0) {
		void *p = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p != MAP_FAILED)
			count = p;
	}
	close(fd);
}

#define COUNT() __atomic_fetch_add(count, 1, __ATOMIC_RELAXED)

void *malloc(size_t n) { COUNT(); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { COUNT(); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { COUNT(); return __libc_realloc(p, n); }
void *aligned_alloc(size_t al, size_t n) { COUNT(); return __libc_memalign(al, n); }
int posix_memalign(void **out, size_t al, size_t n)
{
	COUNT();
	void *p = __libc_memalign(al, n);
	if (p == NULL)
		return 12; /* ENOMEM */
	*out = p;
	return 0;
}
