/* hsm/ internals shared by module.c, token.c, session_pool.c, keys.c, sign.c and the bridges.
 * Nothing outside hsm/ includes this file: it is the only place the PKCS#11 header is seen.
 *
 * Locking, from outermost to innermost (never taken in the other order):
 *   1. a pool slot (h->lock + h->cond): a thread owns one struct hsm_session at a time;
 *   2. the module's rwlock: held for reading around every PKCS#11 call, for writing by the
 *      one thread that re-initialises the module (C_Finalize + C_Initialize);
 *   3. h->lock again, briefly, to update login state or stats.
 * A thread never waits for a pool slot while holding the module's read lock, so a thread
 * that wants to re-initialise cannot be blocked by threads waiting for sessions. */
#ifndef EFOS_HSM_INTERNAL_H
#define EFOS_HSM_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <p11-kit/pkcs11.h>
#include "hsm/hsm.h"
#include "hsm/uri.h"

/* ---- module.c: one loaded PKCS#11 library, shared by every struct hsm that uses it ---- */

struct hsm_module {
	char *path;
	void *dl;
	CK_FUNCTION_LIST_PTR fl;
	pthread_rwlock_t rw;      /* read: a PKCS#11 call is in progress; write: re-init */
	unsigned long gen;        /* bumped on every C_Finalize/C_Initialize */
	bool initialized;         /* the last C_Initialize succeeded */
	long last_reinit_ms;      /* monotonic time of the last re-init attempt */
	int refs;                 /* guarded by the global module list lock */
	struct hsm_module *next;
};

/* Loads (or shares) the module at path and initialises it once. */
int hsm_module_get(const char *path, struct hsm_module **out, efos_err *e);
void hsm_module_put(struct hsm_module *m);
/* Re-initialises the module unless someone already did since generation seen_gen, or did so
 * less than HSM_REINIT_MIN_MS ago. Returns true when this call re-initialised it. */
bool hsm_module_reinit(struct hsm_module *m, unsigned long seen_gen, const char *why);
/* Text for a CK_RV, e.g. "CKR_DEVICE_REMOVED". */
const char *hsm_rv_str(CK_RV rv);
/* True for return values after which the token, session or module must be re-established. */
bool hsm_rv_needs_recovery(CK_RV rv);
long hsm_now_ms(void);

/* How often a struct hsm may re-initialise the module while the token stays away. */
#define HSM_REINIT_MIN_MS 200

/* ---- token.c ---- */

/* Finds the token of h->token_uri and logs in, unless already done in module generation gen.
 * Called with the module's read lock held. */
CK_RV hsm_token_login(struct hsm *h, unsigned long gen, efos_err *e);

/* ---- session_pool.c ---- */

#define HSM_SESSION_CACHE 8
struct hsm_session {
	CK_SESSION_HANDLE handle;
	unsigned long gen;        /* module generation the handle belongs to */
	bool open;
	bool busy;
	/* Object handles found in this session, by hsm_key serial. Cleared whenever the
	 * session is dropped, so a handle never outlives the session that found it. */
	struct { uint64_t key_serial; CK_OBJECT_HANDLE obj; } cache[HSM_SESSION_CACHE];
	unsigned cache_next;
};

struct hsm {
	struct hsm_module *mod;
	struct hsm_uri token_uri;
	char *pin;                /* kept (wiped at close) to log in again after recovery */
	size_t pin_len;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct hsm_session *sessions;
	int nsessions;
	int busy;

	/* Login state, valid for module generation login_gen. A dedicated session stays open so
	 * the token keeps us logged in while pool sessions come and go. */
	bool logged_in;
	unsigned long login_gen;
	unsigned long login_ok_gen; /* == login_gen while logged in, else 0; read without the lock */
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE login_session;
	bool login_session_open;

	/* Set once hsm_open succeeded: before that a failure is reported, not recovered from,
	 * so a mistyped token URI does not re-initialise a module other tokens are using. */
	bool opened;

	/* stats */
	long ops, errors, recoveries;
	bool probe_ok;
	long probe_time;
	long probe_ms;
	char probe_msg[EFOS_ERR_MSG_MAX];
};

/* One PKCS#11 operation against an open, logged-in session. Returns CKR_OK, a CK_RV
 * (recovery is attempted for the kin of CKR_DEVICE_ERROR) or HSM_RV_FAILED when it has set
 * e itself with a failure that must not be retried. */
#define HSM_RV_FAILED (CKR_VENDOR_DEFINED | 0xEF05UL)
typedef CK_RV (*hsm_op_fn)(struct hsm *h, struct hsm_session *s, void *arg, efos_err *e);

/* Runs op in a pooled session, recovering (re-init, re-login) and retrying once when the
 * module, token or session was lost. what: names the operation in error messages. On a
 * failure that persists, fails with EFOS_E_UNAVAILABLE. count_op: counts in ops/errors. */
int hsm_run(struct hsm *h, const char *what, bool count_op, hsm_op_fn op, void *arg, efos_err *e);

/* Handle of the private (or public) key object of k in session s: from the session's cache or
 * by C_FindObjects. forget: drops a cached handle the token refused. */
CK_RV hsm_session_find_key(struct hsm *h, struct hsm_session *s, const struct hsm_key *k,
			   CK_OBJECT_CLASS cls, CK_OBJECT_HANDLE *obj, efos_err *e);
void hsm_session_forget_key(struct hsm_session *s, const struct hsm_key *k);
/* Asks the token whether it is still there (C_GetTokenInfo) before an error path reports
 * "not found": a SoftHSM token whose files vanished lists no objects rather than failing. */
CK_RV hsm_token_check(struct hsm *h);

/* ---- keys.c ---- */

struct hsm_key {
	struct hsm *h;
	uint64_t serial;          /* unique per struct hsm_key: the session cache key */
	enum hsm_key_kind kind;
	int bits;                 /* RSA modulus bits / EC field bits */
	int curve_nid;
	unsigned char *id;
	size_t id_len;
	char *label;
	EVP_PKEY *pub;
};

uint64_t hsm_key_next_serial(void);

/* ---- sign.c ---- */

/* Signs data with an explicit mechanism (no hashing, no formatting): for the OpenSSL bridge,
 * which hands over a complete DigestInfo (CKM_RSA_PKCS) or a digest (CKM_ECDSA, r||s out). */
int hsm_sign_mechanism(struct hsm_key *k, CK_MECHANISM *mech, const unsigned char *data,
		       size_t dlen, unsigned char *sig, size_t *siglen, efos_err *e);
/* r||s (each half n bytes) -> DER ECDSA-Sig-Value; der must hold ECDSA max size. */
int hsm_ecdsa_raw_to_der(const unsigned char *raw, size_t rawlen, unsigned char *der,
			 size_t *derlen, efos_err *e);

/* Whether the token in slot matches the token attributes of URI u (token.c). */
bool hsm_slot_matches(CK_FUNCTION_LIST_PTR fl, const struct hsm_uri *u, CK_SLOT_ID slot,
		      const CK_TOKEN_INFO *ti);

#endif
