/* Loading a PKCS#11 module (dlopen + C_GetFunctionList), initialising it for use by many
 * threads, and re-initialising it after the token or device was lost.
 *
 * A module is shared by every struct hsm that names the same path: C_Initialize and
 * C_Finalize act on the whole process, so two tokens of one module (the HSM and a SoftHSM
 * card) must agree on when the module is re-initialised. The generation counter tells each
 * struct hsm that its sessions and login died with the previous initialisation. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/log.h"
#include "hsm/internal.h"

static pthread_mutex_t modules_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hsm_module *modules;

long hsm_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static CK_RV module_initialize(struct hsm_module *m)
{
	CK_C_INITIALIZE_ARGS args;
	memset(&args, 0, sizeof args);
	/* Threads call in concurrently; let the module use the OS's locks. */
	args.flags = CKF_OS_LOCKING_OK;
	CK_RV rv = m->fl->C_Initialize(&args);
	if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED)
		rv = CKR_OK; /* someone else in this process (e.g. p11-kit) initialised it */
	m->initialized = rv == CKR_OK;
	return rv;
}

static int module_load(const char *path, struct hsm_module **out, efos_err *e)
{
	struct hsm_module *m = calloc(1, sizeof *m);
	CK_C_GetFunctionList getfl;
	CK_RV rv;
	int ret = -1;

	if (m == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	pthread_rwlockattr_t attr;
	pthread_rwlockattr_init(&attr);
	/* A steady stream of signing threads must not starve the thread that re-initialises. */
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&m->rw, &attr);
	pthread_rwlockattr_destroy(&attr);
	m->path = strdup(path);
	if (m->path == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	m->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (m->dl == NULL) {
		efos_fail(e, EFOS_E_CONFIG, "PKCS#11 module %s: cannot load: %s", path, dlerror());
		goto out;
	}
	*(void **)&getfl = dlsym(m->dl, "C_GetFunctionList");
	if (getfl == NULL) {
		efos_fail(e, EFOS_E_CONFIG, "PKCS#11 module %s: no C_GetFunctionList", path);
		goto out;
	}
	rv = getfl(&m->fl);
	if (rv != CKR_OK || m->fl == NULL) {
		efos_fail(e, EFOS_E_CONFIG, "PKCS#11 module %s: C_GetFunctionList: %s", path, hsm_rv_str(rv));
		goto out;
	}
	rv = module_initialize(m);
	if (rv != CKR_OK) {
		efos_fail(e, EFOS_E_UNAVAILABLE, "PKCS#11 module %s: C_Initialize: %s", path, hsm_rv_str(rv));
		goto out;
	}
	m->gen = 1;
	m->last_reinit_ms = hsm_now_ms() - HSM_REINIT_MIN_MS; /* the first failure may re-init at once */
	*out = m;
	m = NULL;
	ret = 0;
out:
	if (m != NULL) {
		if (m->dl != NULL)
			dlclose(m->dl);
		pthread_rwlock_destroy(&m->rw);
		free(m->path);
		free(m);
	}
	return ret;
}

int hsm_module_get(const char *path, struct hsm_module **out, efos_err *e)
{
	int ret = 0;
	pthread_mutex_lock(&modules_lock);
	struct hsm_module *m;
	for (m = modules; m != NULL; m = m->next)
		if (strcmp(m->path, path) == 0)
			break;
	if (m == NULL) {
		ret = module_load(path, &m, e);
		if (ret == 0) {
			m->next = modules;
			modules = m;
		}
	}
	if (ret == 0) {
		m->refs++;
		*out = m;
	}
	pthread_mutex_unlock(&modules_lock);
	return ret;
}

void hsm_module_put(struct hsm_module *m)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&modules_lock);
	if (--m->refs > 0) {
		pthread_mutex_unlock(&modules_lock);
		return;
	}
	for (struct hsm_module **pp = &modules; *pp != NULL; pp = &(*pp)->next)
		if (*pp == m) {
			*pp = m->next;
			break;
		}
	pthread_mutex_unlock(&modules_lock);
	if (m->initialized)
		m->fl->C_Finalize(NULL);
	dlclose(m->dl);
	pthread_rwlock_destroy(&m->rw);
	free(m->path);
	free(m);
}

bool hsm_module_reinit(struct hsm_module *m, unsigned long seen_gen, const char *why)
{
	pthread_rwlock_wrlock(&m->rw);
	long now = hsm_now_ms();
	/* Someone re-initialised since we looked, or did so a moment ago and the token was
	 * still away: do not hammer the module while it is down. */
	if (m->gen != seen_gen || now - m->last_reinit_ms < HSM_REINIT_MIN_MS) {
		pthread_rwlock_unlock(&m->rw);
		return false;
	}
	/* Logged only when it happens: during an outage most failing requests skip it. */
	log_warn("PKCS#11 module %s: %s; re-initialising", m->path, why);
	if (m->initialized)
		m->fl->C_Finalize(NULL);
	CK_RV rv = module_initialize(m);
	m->gen++;
	m->last_reinit_ms = now;
	pthread_rwlock_unlock(&m->rw);
	if (rv != CKR_OK)
		log_warn("PKCS#11 module %s: C_Initialize after a failure: %s", m->path, hsm_rv_str(rv));
	else
		log_info("PKCS#11 module %s re-initialised (generation %lu)", m->path, seen_gen + 1);
	return true;
}

bool hsm_rv_needs_recovery(CK_RV rv)
{
	switch (rv) {
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED:
	case CKR_DEVICE_ERROR:
	case CKR_DEVICE_REMOVED:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_TOKEN_NOT_RECOGNIZED:
	case CKR_USER_NOT_LOGGED_IN:
	case CKR_CRYPTOKI_NOT_INITIALIZED:
	case CKR_SLOT_ID_INVALID:
	case CKR_GENERAL_ERROR:
		return true;
	default:
		return false;
	}
}

const char *hsm_rv_str(CK_RV rv)
{
#define RV(x) case x: return #x
	switch (rv) {
	RV(CKR_OK); RV(CKR_CANCEL); RV(CKR_HOST_MEMORY); RV(CKR_SLOT_ID_INVALID);
	RV(CKR_GENERAL_ERROR); RV(CKR_FUNCTION_FAILED); RV(CKR_ARGUMENTS_BAD);
	RV(CKR_ATTRIBUTE_READ_ONLY); RV(CKR_ATTRIBUTE_SENSITIVE); RV(CKR_ATTRIBUTE_TYPE_INVALID);
	RV(CKR_ATTRIBUTE_VALUE_INVALID); RV(CKR_DATA_INVALID); RV(CKR_DATA_LEN_RANGE);
	RV(CKR_DEVICE_ERROR); RV(CKR_DEVICE_MEMORY); RV(CKR_DEVICE_REMOVED);
	RV(CKR_ENCRYPTED_DATA_INVALID); RV(CKR_ENCRYPTED_DATA_LEN_RANGE);
	RV(CKR_FUNCTION_NOT_SUPPORTED); RV(CKR_KEY_HANDLE_INVALID); RV(CKR_KEY_SIZE_RANGE);
	RV(CKR_KEY_TYPE_INCONSISTENT); RV(CKR_KEY_FUNCTION_NOT_PERMITTED);
	RV(CKR_MECHANISM_INVALID); RV(CKR_MECHANISM_PARAM_INVALID);
	RV(CKR_OBJECT_HANDLE_INVALID); RV(CKR_OPERATION_ACTIVE); RV(CKR_OPERATION_NOT_INITIALIZED);
	RV(CKR_PIN_INCORRECT); RV(CKR_PIN_LOCKED); RV(CKR_PIN_EXPIRED);
	RV(CKR_SESSION_CLOSED); RV(CKR_SESSION_COUNT); RV(CKR_SESSION_HANDLE_INVALID);
	RV(CKR_SESSION_READ_ONLY); RV(CKR_SIGNATURE_INVALID); RV(CKR_SIGNATURE_LEN_RANGE);
	RV(CKR_TEMPLATE_INCOMPLETE); RV(CKR_TEMPLATE_INCONSISTENT);
	RV(CKR_TOKEN_NOT_PRESENT); RV(CKR_TOKEN_NOT_RECOGNIZED); RV(CKR_TOKEN_WRITE_PROTECTED);
	RV(CKR_USER_ALREADY_LOGGED_IN); RV(CKR_USER_NOT_LOGGED_IN); RV(CKR_USER_PIN_NOT_INITIALIZED);
	RV(CKR_USER_TYPE_INVALID); RV(CKR_BUFFER_TOO_SMALL); RV(CKR_CRYPTOKI_NOT_INITIALIZED);
	RV(CKR_CRYPTOKI_ALREADY_INITIALIZED); RV(CKR_DOMAIN_PARAMS_INVALID);
	default: break;
	}
#undef RV
	static __thread char other[32];
	snprintf(other, sizeof other, "CKR_0x%lx", (unsigned long)rv);
	return other;
}
