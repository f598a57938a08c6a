/* Card-side PKCS#11 operations (see hsm/card.h): the officer's workstation opens a card without
 * logging in, initialises it, sets and unblocks its PIN, and writes certificates next to the
 * keys that hsm_keygen made on it. The module is loaded through hsm_module_get(), so a card and
 * the HSM behind one module share its initialisation; every call runs under the module's read
 * lock like the rest of hsm/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "hsm/card.h"
#include "hsm/internal.h"

struct hsm_card {
	struct hsm_module *mod;
	CK_SLOT_ID slot;
};

/* Copies a blank-padded PKCS#11 field into a NUL-terminated string without the padding. */
static void field_str(char *dst, size_t cap, const unsigned char *f, size_t flen)
{
	size_t n = flen;
	while (n > 0 && (f[n - 1] == ' ' || f[n - 1] == '\0'))
		n--;
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, f, n);
	dst[n] = '\0';
}

static int rv_fail(efos_err *e, CK_RV rv, const char *what)
{
	enum efos_errcode code = EFOS_E_INTERNAL;
	const char *hint = "";
	switch (rv) {
	case CKR_PIN_INCORRECT: code = EFOS_E_AUTH; hint = " (wrong PIN)"; break;
	case CKR_PIN_LOCKED: code = EFOS_E_AUTH; hint = " (the PIN is blocked)"; break;
	case CKR_PIN_LEN_RANGE: case CKR_PIN_INVALID: code = EFOS_E_INVALID; hint = " (PIN length or characters not accepted by the card)"; break;
	case CKR_SESSION_EXISTS: code = EFOS_E_CONFLICT; hint = " (a session is open on the card)"; break;
	case CKR_USER_PIN_NOT_INITIALIZED: code = EFOS_E_INVALID; hint = " (the card has no user PIN yet)"; break;
	case CKR_TOKEN_NOT_PRESENT: case CKR_DEVICE_REMOVED: code = EFOS_E_UNAVAILABLE; hint = " (card removed?)"; break;
	case CKR_TOKEN_WRITE_PROTECTED: code = EFOS_E_INVALID; hint = " (the card is write-protected)"; break;
	default: break;
	}
	return efos_fail(e, code, "card: %s: %s%s", what, hsm_rv_str(rv), hint);
}

/* Runs under the module's read lock; fails when the module is not initialised. */
static int lock_module(struct hsm_card *c, efos_err *e)
{
	pthread_rwlock_rdlock(&c->mod->rw);
	if (!c->mod->initialized) {
		pthread_rwlock_unlock(&c->mod->rw);
		return efos_fail(e, EFOS_E_UNAVAILABLE, "card: the PKCS#11 module is not initialised");
	}
	return 0;
}
static void unlock_module(struct hsm_card *c) { pthread_rwlock_unlock(&c->mod->rw); }

static int find_card_slot(struct hsm_card *c, const struct hsm_uri *u, const char *what, efos_err *e)
{
	CK_FUNCTION_LIST_PTR fl = c->mod->fl;
	CK_SLOT_ID *slots = NULL;
	CK_ULONG n = 0, nmatch = 0;
	CK_SLOT_ID match = 0;
	int ret = -1;
	CK_RV rv;

	if (lock_module(c, e) < 0)
		return -1;
	if ((rv = fl->C_GetSlotList(CK_TRUE, NULL, &n)) != CKR_OK) {
		rv_fail(e, rv, "listing slots");
		goto out;
	}
	slots = calloc(n ? n : 1, sizeof *slots);
	if (slots == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	if ((rv = fl->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK) {
		rv_fail(e, rv, "listing slots");
		goto out;
	}
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		if (fl->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		if (hsm_slot_matches(fl, u, slots[i], &ti)) {
			if (nmatch++ == 0)
				match = slots[i];
		}
	}
	if (nmatch == 0) {
		efos_fail(e, EFOS_E_NOTFOUND, "card: no token matching %s is present", what);
		goto out;
	}
	if (nmatch > 1) {
		efos_fail(e, EFOS_E_INVALID, "card: %lu tokens match %s; name one by token=, serial= or slot",
			  (unsigned long)nmatch, what);
		goto out;
	}
	c->slot = match;
	ret = 0;
out:
	unlock_module(c);
	free(slots);
	return ret;
}

int hsm_card_open(const char *module, const char *token_uri, bool has_slot, unsigned long slot,
		  struct hsm_card **out, efos_err *e)
{
	struct hsm_card *c = NULL;
	struct hsm_uri u;
	char what[600];
	int ret = -1;

	*out = NULL;
	memset(&u, 0, sizeof u);
	if (module == NULL || (token_uri == NULL && !has_slot))
		return efos_fail(e, EFOS_E_INVALID, "card: a PKCS#11 module and a token (URI or slot) are required");
	if (token_uri != NULL) {
		if (hsm_uri_parse(token_uri, &u, e) < 0)
			return efos_wrap(e, "card token URI");
		if (u.object || u.id || u.type) {
			efos_fail(e, EFOS_E_INVALID, "card token URI %s names an object; name only the token", token_uri);
			goto out;
		}
		snprintf(what, sizeof what, "%s", token_uri);
	} else {
		snprintf(what, sizeof what, "slot %lu", slot);
	}
	if (has_slot) {
		u.has_slot = true;
		u.slot = slot;
	}
	if ((c = calloc(1, sizeof *c)) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	if (hsm_module_get(module, &c->mod, e) < 0)
		goto out;
	if (find_card_slot(c, &u, what, e) < 0)
		goto out;
	*out = c;
	c = NULL;
	ret = 0;
out:
	hsm_card_close(c);
	hsm_uri_free(&u);
	return ret;
}

void hsm_card_close(struct hsm_card *c)
{
	if (c == NULL)
		return;
	hsm_module_put(c->mod);
	free(c);
}

int hsm_card_info(struct hsm_card *c, struct hsm_card_info *out, efos_err *e)
{
	CK_TOKEN_INFO ti;
	memset(out, 0, sizeof *out);
	if (lock_module(c, e) < 0)
		return -1;
	CK_RV rv = c->mod->fl->C_GetTokenInfo(c->slot, &ti);
	unlock_module(c);
	if (rv != CKR_OK)
		return rv_fail(e, rv, "reading the token information");
	out->slot = c->slot;
	field_str(out->label, sizeof out->label, ti.label, sizeof ti.label);
	field_str(out->serial, sizeof out->serial, ti.serialNumber, sizeof ti.serialNumber);
	field_str(out->manufacturer, sizeof out->manufacturer, ti.manufacturerID, sizeof ti.manufacturerID);
	field_str(out->model, sizeof out->model, ti.model, sizeof ti.model);
	out->initialized = (ti.flags & CKF_TOKEN_INITIALIZED) != 0;
	out->user_pin_initialized = (ti.flags & CKF_USER_PIN_INITIALIZED) != 0;
	out->user_pin_locked = (ti.flags & CKF_USER_PIN_LOCKED) != 0;
	out->so_pin_locked = (ti.flags & CKF_SO_PIN_LOCKED) != 0;
	out->min_pin = ti.ulMinPinLen;
	out->max_pin = ti.ulMaxPinLen;
	return 0;
}

/* RFC 7512 percent-encoding of a path attribute value. */
static void pct(char *dst, size_t cap, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (; *s && o + 4 < cap; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			dst[o++] = (char)ch;
		} else {
			dst[o++] = '%';
			dst[o++] = hex[ch >> 4];
			dst[o++] = hex[ch & 15];
		}
	}
	dst[o] = '\0';
}

int hsm_card_token_uri(struct hsm_card *c, char *buf, size_t cap, efos_err *e)
{
	struct hsm_card_info ci;
	char label[100], serial[60];
	if (hsm_card_info(c, &ci, e) < 0)
		return -1;
	if (!ci.initialized)
		return efos_fail(e, EFOS_E_INVALID, "card: the token is not initialised");
	pct(label, sizeof label, ci.label);
	pct(serial, sizeof serial, ci.serial);
	int n = snprintf(buf, cap, "pkcs11:token=%s;serial=%s", label, serial);
	if (n < 0 || (size_t)n >= cap)
		return efos_fail(e, EFOS_E_INTERNAL, "card: token URI too long");
	return 0;
}

/* Opens a session on the card, optionally logged in as user_type with pin. */
static CK_RV open_session(struct hsm_card *c, bool rw, CK_USER_TYPE user_type, const char *pin,
			  CK_SESSION_HANDLE *s)
{
	CK_FUNCTION_LIST_PTR fl = c->mod->fl;
	CK_FLAGS flags = CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0);
	CK_RV rv = fl->C_OpenSession(c->slot, flags, NULL, NULL, s);
	if (rv != CKR_OK || pin == NULL)
		return rv;
	rv = fl->C_Login(*s, user_type, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)strlen(pin));
	if (rv == CKR_USER_ALREADY_LOGGED_IN)
		rv = CKR_OK;
	if (rv != CKR_OK)
		fl->C_CloseSession(*s);
	return rv;
}

static void close_session(struct hsm_card *c, CK_SESSION_HANDLE s, bool logout)
{
	if (logout)
		c->mod->fl->C_Logout(s);
	c->mod->fl->C_CloseSession(s);
}

int hsm_card_is_blank(struct hsm_card *c, const char *user_pin, bool *blank, size_t *n_objects,
		      efos_err *e)
{
	struct hsm_card_info ci;
	CK_FUNCTION_LIST_PTR fl = c->mod->fl;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE objs[16];
	CK_ULONG got = 0;
	size_t total = 0;
	CK_RV rv;

	*blank = false;
	if (n_objects != NULL)
		*n_objects = 0;
	if (hsm_card_info(c, &ci, e) < 0)
		return -1;
	if (!ci.initialized) {
		*blank = true;
		return 0;
	}
	bool login = user_pin != NULL && ci.user_pin_initialized;
	if (lock_module(c, e) < 0)
		return -1;
	rv = open_session(c, false, CKU_USER, login ? user_pin : NULL, &s);
	if (rv != CKR_OK) {
		unlock_module(c);
		return rv_fail(e, rv, login ? "logging in to count the card's objects" : "opening a session");
	}
	rv = fl->C_FindObjectsInit(s, NULL, 0);
	if (rv == CKR_OK) {
		do {
			rv = fl->C_FindObjects(s, objs, 16, &got);
			total += got;
		} while (rv == CKR_OK && got == 16);
		CK_RV rv2 = fl->C_FindObjectsFinal(s);
		if (rv == CKR_OK)
			rv = rv2;
	}
	close_session(c, s, login);
	unlock_module(c);
	if (rv != CKR_OK)
		return rv_fail(e, rv, "listing the card's objects");
	*blank = total == 0;
	if (n_objects != NULL)
		*n_objects = total;
	return 0;
}

int hsm_card_init_token(struct hsm_card *c, const char *so_pin, const char *label, efos_err *e)
{
	CK_UTF8CHAR lab[32];
	size_t n = label ? strlen(label) : 0;
	if (so_pin == NULL || *so_pin == '\0')
		return efos_fail(e, EFOS_E_INVALID, "card: an SO PIN is required to initialise the card");
	if (n == 0 || n > sizeof lab)
		return efos_fail(e, EFOS_E_INVALID, "card: the label must be 1 to 32 bytes");
	memset(lab, ' ', sizeof lab);
	memcpy(lab, label, n);
	if (lock_module(c, e) < 0)
		return -1;
	CK_RV rv = c->mod->fl->C_InitToken(c->slot, (CK_UTF8CHAR_PTR)so_pin, (CK_ULONG)strlen(so_pin), lab);
	unlock_module(c);
	if (rv != CKR_OK)
		return rv_fail(e, rv, "initialising the card (C_InitToken)");
	return 0;
}

int hsm_card_init_pin(struct hsm_card *c, const char *so_pin, const char *user_pin, efos_err *e)
{
	CK_SESSION_HANDLE s;
	if (so_pin == NULL || user_pin == NULL || *user_pin == '\0')
		return efos_fail(e, EFOS_E_INVALID, "card: the SO PIN and a new user PIN are required");
	if (lock_module(c, e) < 0)
		return -1;
	CK_RV rv = open_session(c, true, CKU_SO, so_pin, &s);
	if (rv != CKR_OK) {
		unlock_module(c);
		return rv_fail(e, rv, "SO login (SO PIN / PUK)");
	}
	rv = c->mod->fl->C_InitPIN(s, (CK_UTF8CHAR_PTR)user_pin, (CK_ULONG)strlen(user_pin));
	close_session(c, s, true);
	unlock_module(c);
	if (rv != CKR_OK)
		return rv_fail(e, rv, "setting the user PIN (C_InitPIN)");
	return 0;
}

int hsm_card_set_pin(struct hsm_card *c, const char *old_pin, const char *new_pin, efos_err *e)
{
	CK_SESSION_HANDLE s;
	if (old_pin == NULL || new_pin == NULL || *new_pin == '\0')
		return efos_fail(e, EFOS_E_INVALID, "card: the current and the new PIN are required");
	if (lock_module(c, e) < 0)
		return -1;
	CK_RV rv = open_session(c, true, CKU_USER, old_pin, &s);
	if (rv != CKR_OK) {
		unlock_module(c);
		return rv_fail(e, rv, "logging in with the current PIN");
	}
	rv = c->mod->fl->C_SetPIN(s, (CK_UTF8CHAR_PTR)old_pin, (CK_ULONG)strlen(old_pin),
				  (CK_UTF8CHAR_PTR)new_pin, (CK_ULONG)strlen(new_pin));
	close_session(c, s, true);
	unlock_module(c);
	if (rv != CKR_OK)
		return rv_fail(e, rv, "changing the PIN (C_SetPIN)");
	return 0;
}

int hsm_card_check_pin(struct hsm_card *c, const char *user_pin, efos_err *e)
{
	CK_SESSION_HANDLE s;
	if (user_pin == NULL)
		return efos_fail(e, EFOS_E_INVALID, "card: a PIN is required");
	if (lock_module(c, e) < 0)
		return -1;
	CK_RV rv = open_session(c, false, CKU_USER, user_pin, &s);
	if (rv == CKR_OK)
		close_session(c, s, true);
	unlock_module(c);
	if (rv != CKR_OK)
		return rv_fail(e, rv, "PIN check");
	return 0;
}

int hsm_card_login(struct hsm_card *c, const char *user_pin, struct hsm **out, efos_err *e)
{
	char uri[256];
	*out = NULL;
	if (hsm_card_token_uri(c, uri, sizeof uri, e) < 0)
		return -1;
	if (hsm_open(c->mod->path, uri, user_pin, 1, out, e) < 0)
		return efos_wrap(e, "card %s", uri);
	return 0;
}

/* ---- operations on a logged-in card (struct hsm from hsm_card_login) ---- */

struct extract_arg {
	const struct hsm_key *k;
	CK_BBOOL sensitive, extractable, always_sensitive, never_extractable;
};

static CK_RV extract_op(struct hsm *h, struct hsm_session *s, void *argp, efos_err *e)
{
	struct extract_arg *a = argp;
	CK_OBJECT_HANDLE obj;
	CK_RV rv = hsm_session_find_key(h, s, a->k, CKO_PRIVATE_KEY, &obj, e);
	if (rv != CKR_OK)
		return rv;
	CK_ATTRIBUTE t[4] = {
		{ CKA_SENSITIVE, &a->sensitive, sizeof a->sensitive },
		{ CKA_EXTRACTABLE, &a->extractable, sizeof a->extractable },
		{ CKA_ALWAYS_SENSITIVE, &a->always_sensitive, sizeof a->always_sensitive },
		{ CKA_NEVER_EXTRACTABLE, &a->never_extractable, sizeof a->never_extractable },
	};
	return h->mod->fl->C_GetAttributeValue(s->handle, obj, t, 4);
}

int hsm_card_key_check_nonextractable(struct hsm_key *k, efos_err *e)
{
	struct extract_arg a = { .k = k, .extractable = CK_TRUE };
	if (hsm_run(k->h, "key attribute check", false, extract_op, &a, e) < 0)
		return -1;
	const char *name = k->label ? k->label : "(no label)";
	if (a.extractable)
		return efos_fail(e, EFOS_E_INVALID, "card key '%s' is extractable (CKA_EXTRACTABLE true)", name);
	if (!a.never_extractable)
		return efos_fail(e, EFOS_E_INVALID, "card key '%s' was extractable once (CKA_NEVER_EXTRACTABLE false)", name);
	if (!a.sensitive || !a.always_sensitive)
		return efos_fail(e, EFOS_E_INVALID, "card key '%s' is not (always) sensitive", name);
	return 0;
}

/* Finds the certificate objects with k's CKA_ID (up to cap). */
static CK_RV find_certs(struct hsm *h, struct hsm_session *s, const struct hsm_key *k,
			CK_OBJECT_HANDLE *found, CK_ULONG cap, CK_ULONG *n)
{
	CK_FUNCTION_LIST_PTR fl = h->mod->fl;
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_ATTRIBUTE t[2] = { { CKA_CLASS, &cls, sizeof cls }, { CKA_ID, k->id, k->id_len } };
	CK_RV rv = fl->C_FindObjectsInit(s->handle, t, 2);
	if (rv != CKR_OK)
		return rv;
	rv = fl->C_FindObjects(s->handle, found, cap, n);
	CK_RV rv2 = fl->C_FindObjectsFinal(s->handle);
	return rv != CKR_OK ? rv : rv2;
}

struct writecert_arg {
	const struct hsm_key *k;
	const char *label;
	unsigned char *der, *subj, *iss, *ser;
	int der_len, subj_len, iss_len, ser_len;
};

static CK_RV writecert_op(struct hsm *h, struct hsm_session *s, void *argp, efos_err *e)
{
	struct writecert_arg *a = argp;
	CK_FUNCTION_LIST_PTR fl = h->mod->fl;
	CK_OBJECT_HANDLE old[8], obj;
	CK_ULONG nold = 0;
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE ct = CKC_X_509;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_RV rv;

	/* The key must still be there: a certificate without its key is useless. */
	if ((rv = hsm_session_find_key(h, s, a->k, CKO_PRIVATE_KEY, &obj, e)) != CKR_OK)
		return rv;
	if ((rv = find_certs(h, s, a->k, old, 8, &nold)) != CKR_OK)
		return rv;
	for (CK_ULONG i = 0; i < nold; i++)
		if ((rv = fl->C_DestroyObject(s->handle, old[i])) != CKR_OK)
			return rv;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof cls },
		{ CKA_CERTIFICATE_TYPE, &ct, sizeof ct },
		{ CKA_TOKEN, &yes, sizeof yes },
		{ CKA_PRIVATE, &no, sizeof no },
		{ CKA_ID, a->k->id, a->k->id_len },
		{ CKA_LABEL, (void *)a->label, (CK_ULONG)strlen(a->label) },
		{ CKA_SUBJECT, a->subj, (CK_ULONG)a->subj_len },
		{ CKA_ISSUER, a->iss, (CK_ULONG)a->iss_len },
		{ CKA_SERIAL_NUMBER, a->ser, (CK_ULONG)a->ser_len },
		{ CKA_VALUE, a->der, (CK_ULONG)a->der_len },
	};
	return fl->C_CreateObject(s->handle, t, sizeof t / sizeof t[0], &obj);
}

int hsm_card_write_cert(struct hsm_key *k, X509 *cert, const char *label, efos_err *e)
{
	struct writecert_arg a = { .k = k, .label = label };
	int ret = -1;

	if (label == NULL || *label == '\0')
		return efos_fail(e, EFOS_E_INVALID, "card: a label is required for the certificate");
	if (k->id_len == 0)
		return efos_fail(e, EFOS_E_INVALID, "card: the key has no CKA_ID to link its certificate to");
	EVP_PKEY *pub = X509_get0_pubkey(cert);
	if (pub == NULL || k->pub == NULL || EVP_PKEY_eq(pub, k->pub) != 1)
		return efos_fail(e, EFOS_E_INVALID, "card: the certificate is not for key '%s' (public keys differ)",
				 k->label ? k->label : "(no label)");
	a.der_len = i2d_X509(cert, &a.der);
	a.subj_len = i2d_X509_NAME(X509_get_subject_name(cert), &a.subj);
	a.iss_len = i2d_X509_NAME(X509_get_issuer_name(cert), &a.iss);
	a.ser_len = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &a.ser);
	if (a.der_len <= 0 || a.subj_len <= 0 || a.iss_len <= 0 || a.ser_len <= 0) {
		efos_fail(e, EFOS_E_INTERNAL, "card: cannot encode the certificate");
		goto out;
	}
	if (hsm_run(k->h, "certificate write", true, writecert_op, &a, e) < 0)
		goto out;
	ret = 0;
out:
	OPENSSL_free(a.der);
	OPENSSL_free(a.subj);
	OPENSSL_free(a.iss);
	OPENSSL_free(a.ser);
	return ret;
}

struct readcert_arg {
	const struct hsm_key *k;
	X509 *cert;
};

static CK_RV readcert_op(struct hsm *h, struct hsm_session *s, void *argp, efos_err *e)
{
	struct readcert_arg *a = argp;
	CK_OBJECT_HANDLE found[2];
	CK_ULONG n = 0;
	CK_RV rv = find_certs(h, s, a->k, found, 2, &n);
	if (rv != CKR_OK)
		return rv;
	if (n == 0) {
		efos_fail(e, EFOS_E_NOTFOUND, "card: no certificate next to key '%s'", a->k->label ? a->k->label : "");
		return HSM_RV_FAILED;
	}
	CK_ATTRIBUTE t = { CKA_VALUE, NULL, 0 };
	if ((rv = h->mod->fl->C_GetAttributeValue(s->handle, found[0], &t, 1)) != CKR_OK)
		return rv;
	if (t.ulValueLen == CK_UNAVAILABLE_INFORMATION || t.ulValueLen == 0 || t.ulValueLen > 65536) {
		efos_fail(e, EFOS_E_INVALID, "card: the certificate object has no usable value");
		return HSM_RV_FAILED;
	}
	unsigned char *buf = malloc(t.ulValueLen);
	if (buf == NULL)
		return CKR_HOST_MEMORY;
	t.pValue = buf;
	rv = h->mod->fl->C_GetAttributeValue(s->handle, found[0], &t, 1);
	if (rv == CKR_OK) {
		const unsigned char *p = buf;
		X509_free(a->cert);
		a->cert = d2i_X509(NULL, &p, (long)t.ulValueLen);
		if (a->cert == NULL) {
			efos_fail(e, EFOS_E_INVALID, "card: the certificate object does not hold a DER certificate");
			rv = HSM_RV_FAILED;
		}
	}
	free(buf);
	return rv;
}

int hsm_card_read_cert(struct hsm_key *k, X509 **out, efos_err *e)
{
	struct readcert_arg a = { .k = k };
	*out = NULL;
	if (hsm_run(k->h, "certificate read", false, readcert_op, &a, e) < 0) {
		X509_free(a.cert);
		return -1;
	}
	*out = a.cert;
	return 0;
}
