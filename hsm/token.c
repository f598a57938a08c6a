/* Opening and closing a struct hsm: the token found by URI, the login, the pool's sessions,
 * and the stats that /healthz and /metrics read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/log.h"
#include "hsm/internal.h"

/* Whether the token in slot matches the token attributes of the URI (shared by the HSM and the
 * card code). */
bool hsm_slot_matches(CK_FUNCTION_LIST_PTR fl, const struct hsm_uri *u, CK_SLOT_ID slot,
			 const CK_TOKEN_INFO *ti)
{
	if (u->has_slot && u->slot != slot)
		return false;
	if (u->token && !hsm_uri_field_eq(ti->label, sizeof ti->label, u->token))
		return false;
	if (u->manufacturer && !hsm_uri_field_eq(ti->manufacturerID, sizeof ti->manufacturerID, u->manufacturer))
		return false;
	if (u->model && !hsm_uri_field_eq(ti->model, sizeof ti->model, u->model))
		return false;
	if (u->serial && !hsm_uri_field_eq(ti->serialNumber, sizeof ti->serialNumber, u->serial))
		return false;
	if (u->slot_description || u->slot_manufacturer) {
		CK_SLOT_INFO si;
		if (fl->C_GetSlotInfo(slot, &si) != CKR_OK)
			return false;
		if (u->slot_description &&
		    !hsm_uri_field_eq(si.slotDescription, sizeof si.slotDescription, u->slot_description))
			return false;
		if (u->slot_manufacturer &&
		    !hsm_uri_field_eq(si.manufacturerID, sizeof si.manufacturerID, u->slot_manufacturer))
			return false;
	}
	return true;
}

static CK_RV find_slot(struct hsm *h, CK_SLOT_ID *out, efos_err *e)
{
	CK_FUNCTION_LIST_PTR fl = h->mod->fl;
	CK_SLOT_ID *slots = NULL;
	CK_ULONG n = 0;
	CK_RV rv = fl->C_GetSlotList(CK_TRUE, NULL, &n);
	if (rv != CKR_OK)
		goto out;
	slots = calloc(n ? n : 1, sizeof *slots);
	if (slots == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	rv = fl->C_GetSlotList(CK_TRUE, slots, &n);
	if (rv != CKR_OK)
		goto out;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		if (fl->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		/* An uninitialised token (SoftHSM's spare slot) is never the one we want. */
		if (!(ti.flags & CKF_TOKEN_INITIALIZED))
			continue;
		if (hsm_slot_matches(h->mod->fl, &h->token_uri, slots[i], &ti)) {
			*out = slots[i];
			goto out;
		}
	}
	rv = CKR_TOKEN_NOT_PRESENT;
	efos_fail(e, EFOS_E_UNAVAILABLE, "no token matching the configured URI is present");
out:
	free(slots);
	return rv;
}

CK_RV hsm_token_login(struct hsm *h, unsigned long gen, efos_err *e)
{
	CK_FUNCTION_LIST_PTR fl = h->mod->fl;
	CK_RV rv = CKR_OK;
	CK_SLOT_ID slot;

	/* Fast path, taken by every operation: no lock while the login is current. */
	if (__atomic_load_n(&h->login_ok_gen, __ATOMIC_ACQUIRE) == gen)
		return CKR_OK;
	pthread_mutex_lock(&h->lock);
	if (h->logged_in && h->login_gen == gen)
		goto out;
	/* Sessions of an older generation died with C_Finalize; nothing to close. */
	h->logged_in = false;
	__atomic_store_n(&h->login_ok_gen, 0, __ATOMIC_RELEASE);
	h->login_session_open = false;
	rv = find_slot(h, &slot, e);
	if (rv != CKR_OK)
		goto out;
	rv = fl->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h->login_session);
	if (rv != CKR_OK)
		goto out;
	h->login_session_open = true;
	h->login_gen = gen;
	h->slot = slot;
	rv = fl->C_Login(h->login_session, CKU_USER, (CK_UTF8CHAR_PTR)h->pin, h->pin_len);
	if (rv == CKR_USER_ALREADY_LOGGED_IN)
		rv = CKR_OK; /* another struct hsm of this process shares the token */
	if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED || rv == CKR_PIN_EXPIRED ||
	    rv == CKR_PIN_LEN_RANGE) {
		efos_fail(e, EFOS_E_CONFIG, "token login refused: %s (check the configured PIN)", hsm_rv_str(rv));
		fl->C_CloseSession(h->login_session);
		h->login_session_open = false;
		rv = HSM_RV_FAILED;
		goto out;
	}
	if (rv != CKR_OK)
		goto out;
	h->logged_in = true;
	__atomic_store_n(&h->login_ok_gen, gen, __ATOMIC_RELEASE);
out:
	pthread_mutex_unlock(&h->lock);
	return rv;
}

static CK_RV noop(struct hsm *h, struct hsm_session *s, void *arg, efos_err *e)
{
	return CKR_OK;
}

int hsm_open(const char *module, const char *token_uri, const char *pin, int nsessions,
	     struct hsm **out, efos_err *e)
{
	struct hsm *h = NULL;
	int ret = -1;

	*out = NULL;
	if (module == NULL || token_uri == NULL || pin == NULL)
		return efos_fail(e, EFOS_E_CONFIG, "HSM: module, token URI and PIN are required");
	if (nsessions < 1 || nsessions > 1024)
		return efos_fail(e, EFOS_E_CONFIG, "HSM: session pool size must be 1..1024 (got %d)", nsessions);
	h = calloc(1, sizeof *h);
	if (h == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	if (hsm_uri_parse(token_uri, &h->token_uri, e) < 0) {
		efos_wrap(e, "HSM token URI");
		if (e != NULL)
			e->code = EFOS_E_CONFIG;
		goto out;
	}
	if (h->token_uri.object || h->token_uri.id || h->token_uri.type) {
		efos_fail(e, EFOS_E_CONFIG, "HSM token URI %s names an object; name only the token", token_uri);
		goto out;
	}
	h->pin_len = strlen(pin);
	h->pin = strdup(pin);
	h->sessions = calloc((size_t)nsessions, sizeof *h->sessions);
	if (h->pin == NULL || h->sessions == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	h->nsessions = nsessions;
	if (hsm_module_get(module, &h->mod, e) < 0)
		goto out;
	/* Log in and open one pool session now, so a bad PIN or URI stops start-up. */
	if (hsm_run(h, "open", false, noop, NULL, e) < 0) {
		efos_wrap(e, "HSM %s on %s", token_uri, module);
		goto out;
	}
	h->opened = true;
	log_info("HSM %s opened through %s with %d sessions", token_uri, module, nsessions);
	*out = h;
	h = NULL;
	ret = 0;
out:
	hsm_close(h);
	return ret;
}

void hsm_close(struct hsm *h)
{
	if (h == NULL)
		return;
	if (h->mod != NULL) {
		pthread_rwlock_rdlock(&h->mod->rw);
		unsigned long gen = h->mod->gen;
		CK_FUNCTION_LIST_PTR fl = h->mod->fl;
		if (h->mod->initialized) {
			for (int i = 0; i < h->nsessions; i++)
				if (h->sessions[i].open && h->sessions[i].gen == gen)
					fl->C_CloseSession(h->sessions[i].handle);
			/* Closing our last session logs us out, without logging out another
			 * struct hsm of this process that shares the token (C_Logout would). */
			if (h->login_session_open && h->login_gen == gen)
				fl->C_CloseSession(h->login_session);
		}
		pthread_rwlock_unlock(&h->mod->rw);
		hsm_module_put(h->mod);
	}
	if (h->pin != NULL)
		efos_wipe(h->pin, h->pin_len);
	free(h->pin);
	free(h->sessions);
	hsm_uri_free(&h->token_uri);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

void hsm_get_stats(struct hsm *h, struct hsm_stats *st)
{
	memset(st, 0, sizeof *st);
	pthread_mutex_lock(&h->lock);
	st->ops = h->ops;
	st->errors = h->errors;
	st->recoveries = h->recoveries;
	st->sessions = h->nsessions;
	st->sessions_busy = h->busy;
	st->probe_ok = h->probe_ok;
	st->probe_time = h->probe_time;
	pthread_mutex_unlock(&h->lock);
}

void hsm_probe_status(struct hsm *h, long *latency_ms, char *msg, size_t cap)
{
	pthread_mutex_lock(&h->lock);
	if (latency_ms != NULL)
		*latency_ms = h->probe_ms;
	if (msg != NULL && cap > 0)
		snprintf(msg, cap, "%s", h->probe_time ? h->probe_msg : "no probe yet");
	pthread_mutex_unlock(&h->lock);
}
