/* The session pool and the recovery loop every PKCS#11 operation runs in.
 *
 * A thread takes a session from the pool (blocking while all are busy), runs its operation
 * under the module's read lock, and gives the session back. When the operation fails in a
 * way that means the session, login, token or module is gone, the thread re-initialises
 * the module (write lock, once per generation), logs in again and retries once; if that
 * fails too the caller gets EFOS_E_UNAVAILABLE, and the next call tries again, so service
 * resumes by itself when the token returns. */
#include <stdio.h>
#include <string.h>
#include "core/log.h"
#include "hsm/internal.h"

static struct hsm_session *pool_acquire(struct hsm *h)
{
	pthread_mutex_lock(&h->lock);
	while (h->busy == h->nsessions)
		pthread_cond_wait(&h->cond, &h->lock);
	struct hsm_session *s = NULL;
	for (int i = 0; i < h->nsessions; i++)
		if (!h->sessions[i].busy) {
			s = &h->sessions[i];
			break;
		}
	s->busy = true;
	h->busy++;
	pthread_mutex_unlock(&h->lock);
	return s;
}

static void pool_release(struct hsm *h, struct hsm_session *s, bool count_op, bool failed)
{
	pthread_mutex_lock(&h->lock);
	s->busy = false;
	h->busy--;
	if (count_op) {
		h->ops++;
		if (failed)
			h->errors++;
	}
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

static void session_drop(struct hsm_session *s)
{
	s->open = false;
	memset(s->cache, 0, sizeof s->cache);
	s->cache_next = 0;
}

/* Opens s in the current generation if it is not open in it already. Read lock held. */
static CK_RV session_ensure(struct hsm *h, struct hsm_session *s, unsigned long gen)
{
	if (s->open && s->gen == gen)
		return CKR_OK;
	session_drop(s);
	CK_RV rv = h->mod->fl->C_OpenSession(h->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
					     NULL, &s->handle);
	if (rv == CKR_OK) {
		s->open = true;
		s->gen = gen;
	}
	return rv;
}

static enum efos_errcode rv_errcode(CK_RV rv)
{
	switch (rv) {
	case CKR_DATA_INVALID: case CKR_DATA_LEN_RANGE: case CKR_ENCRYPTED_DATA_INVALID:
	case CKR_ENCRYPTED_DATA_LEN_RANGE: case CKR_KEY_TYPE_INCONSISTENT:
	case CKR_KEY_FUNCTION_NOT_PERMITTED: case CKR_MECHANISM_INVALID:
	case CKR_MECHANISM_PARAM_INVALID: case CKR_KEY_SIZE_RANGE:
		return EFOS_E_INVALID;
	case CKR_PIN_INCORRECT: case CKR_PIN_LOCKED: case CKR_PIN_EXPIRED:
		return EFOS_E_AUTH;
	default:
		return EFOS_E_INTERNAL;
	}
}

int hsm_run(struct hsm *h, const char *what, bool count_op, hsm_op_fn op, void *arg, efos_err *e)
{
	struct hsm_module *m = h->mod;
	struct hsm_session *s = pool_acquire(h);
	efos_err detail;
	CK_RV rv = CKR_OK;
	int ret = -1;

	for (int attempt = 0; attempt < 2; attempt++) {
		efos_err_clear(&detail);
		pthread_rwlock_rdlock(&m->rw);
		unsigned long gen = m->gen;
		if (!m->initialized)
			rv = CKR_CRYPTOKI_NOT_INITIALIZED;
		else if ((rv = hsm_token_login(h, gen, &detail)) == CKR_OK &&
			 (rv = session_ensure(h, s, gen)) == CKR_OK)
			rv = op(h, s, arg, &detail);
		pthread_rwlock_unlock(&m->rw);

		if (rv == CKR_OK) {
			ret = 0;
			break;
		}
		if (rv == HSM_RV_FAILED) {
			if (e != NULL)
				*e = detail;
			break;
		}
		if (!hsm_rv_needs_recovery(rv)) {
			efos_fail(e, rv_errcode(rv), "HSM %s: %s", what, hsm_rv_str(rv));
			break;
		}
		session_drop(s);
		if (!h->opened) {
			efos_fail(e, EFOS_E_UNAVAILABLE, "HSM %s: %s%s%s", what, hsm_rv_str(rv),
				  detail.msg[0] ? ": " : "", detail.msg);
			break;
		}
		if (attempt == 1) {
			efos_fail(e, EFOS_E_UNAVAILABLE, "HSM unavailable: %s: %s%s%s (will try again on the next request)",
				  what, hsm_rv_str(rv), detail.msg[0] ? ": " : "", detail.msg);
			break;
		}
		char why[128];
		snprintf(why, sizeof why, "%s failed with %s", what, hsm_rv_str(rv));
		if (hsm_module_reinit(m, gen, why)) {
			pthread_mutex_lock(&h->lock);
			h->recoveries++;
			pthread_mutex_unlock(&h->lock);
		}
	}
	pool_release(h, s, count_op, ret < 0);
	return ret;
}

CK_RV hsm_token_check(struct hsm *h)
{
	CK_TOKEN_INFO ti;
	CK_RV rv = h->mod->fl->C_GetTokenInfo(h->slot, &ti);
	/* Another token now sitting in our slot is as good as ours being gone. */
	if (rv == CKR_OK && h->token_uri.token != NULL &&
	    !hsm_uri_field_eq(ti.label, sizeof ti.label, h->token_uri.token))
		rv = CKR_TOKEN_NOT_RECOGNIZED;
	return rv;
}

void hsm_session_forget_key(struct hsm_session *s, const struct hsm_key *k)
{
	for (unsigned i = 0; i < HSM_SESSION_CACHE; i++)
		if (s->cache[i].key_serial == k->serial)
			s->cache[i].key_serial = 0;
}

CK_RV hsm_session_find_key(struct hsm *h, struct hsm_session *s, const struct hsm_key *k,
			   CK_OBJECT_CLASS cls, CK_OBJECT_HANDLE *obj, efos_err *e)
{
	CK_FUNCTION_LIST_PTR fl = h->mod->fl;
	bool priv = cls == CKO_PRIVATE_KEY;
	if (priv)
		for (unsigned i = 0; i < HSM_SESSION_CACHE; i++)
			if (s->cache[i].key_serial == k->serial) {
				*obj = s->cache[i].obj;
				return CKR_OK;
			}

	CK_ATTRIBUTE tmpl[3];
	CK_ULONG n = 0;
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof cls };
	if (k->id_len > 0)
		tmpl[n++] = (CK_ATTRIBUTE){ CKA_ID, k->id, k->id_len };
	/* The public object of a key made elsewhere may carry another label: match it by ID. */
	if (k->label != NULL && (priv || k->id_len == 0))
		tmpl[n++] = (CK_ATTRIBUTE){ CKA_LABEL, k->label, strlen(k->label) };

	CK_OBJECT_HANDLE found[2];
	CK_ULONG nfound = 0;
	CK_RV rv = fl->C_FindObjectsInit(s->handle, tmpl, n);
	if (rv != CKR_OK)
		return rv;
	rv = fl->C_FindObjects(s->handle, found, 2, &nfound);
	CK_RV rv2 = fl->C_FindObjectsFinal(s->handle);
	if (rv == CKR_OK)
		rv = rv2;
	if (rv != CKR_OK)
		return rv;
	if (nfound == 0) {
		if ((rv = hsm_token_check(h)) != CKR_OK)
			return rv;
		efos_fail(e, EFOS_E_NOTFOUND, "HSM: %s key '%s' not found on the token",
			  priv ? "private" : "public", k->label ? k->label : "(no label)");
		return HSM_RV_FAILED;
	}
	if (nfound > 1) {
		efos_fail(e, EFOS_E_INVALID, "HSM: several %s keys match '%s'",
			  priv ? "private" : "public", k->label ? k->label : "(no label)");
		return HSM_RV_FAILED;
	}
	*obj = found[0];
	if (priv) {
		s->cache[s->cache_next].key_serial = k->serial;
		s->cache[s->cache_next].obj = found[0];
		s->cache_next = (s->cache_next + 1) % HSM_SESSION_CACHE;
	}
	return CKR_OK;
}
