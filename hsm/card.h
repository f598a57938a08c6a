/* hsm/card.h: the card-side PKCS#11 operations of the officer's workstation (efosctl card ...).
 * A smart card is just another token: it is reached through the same module loader as the HSM
 * (hsm/module.c, shared when the module is the same), found by PKCS#11 URI or slot, and once
 * its user PIN is set it is opened with hsm_open() (through hsm_card_login) so that key
 * generation, CSR signing (hsm_evp_pkey) and lookup are the HSM's own code.
 *
 * What only a card needs is here: opening a token without logging in (it may be blank and
 * have no PIN yet), telling whether it is blank, C_InitToken, C_InitPIN (first PIN, and PIN
 * unblock with the SO PIN/PUK), C_SetPIN (the holder changes the PIN), checking that a key is
 * non-extractable, and writing a certificate object next to its key.
 *
 * Operations that need the card to have no open session of ours (C_InitToken) must be done
 * before hsm_card_login or after hsm_close of its result. PINs are never kept by a struct
 * hsm_card; the caller wipes them. */
#ifndef EFOS_HSM_CARD_H
#define EFOS_HSM_CARD_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/x509.h>
#include "core/err.h"
#include "hsm/hsm.h"

struct hsm_card;

struct hsm_card_info {
	unsigned long slot;
	char label[33];            /* CK_TOKEN_INFO.label, blanks trimmed */
	char serial[17];           /* CK_TOKEN_INFO.serialNumber, blanks trimmed */
	char manufacturer[33];
	char model[17];
	bool initialized;          /* CKF_TOKEN_INITIALIZED */
	bool user_pin_initialized; /* CKF_USER_PIN_INITIALIZED */
	bool user_pin_locked;      /* CKF_USER_PIN_LOCKED */
	bool so_pin_locked;        /* CKF_SO_PIN_LOCKED */
	unsigned long min_pin, max_pin;
};

/* Opens the token of module at token_uri (RFC 7512: token=, serial=, slot-id=, ...; no object
 * attributes, no pin-value) or, when token_uri is NULL, at slot. Uninitialised tokens are
 * found too (by slot, or by a URI naming no label/serial). No login. EFOS_E_NOTFOUND when no
 * token matches, EFOS_E_INVALID when several do. */
int hsm_card_open(const char *module, const char *token_uri, bool has_slot, unsigned long slot,
		  struct hsm_card **out, efos_err *e);
void hsm_card_close(struct hsm_card *c);

/* Fresh token information (labels and serial change when the token is initialised). */
int hsm_card_info(struct hsm_card *c, struct hsm_card_info *out, efos_err *e);
/* An RFC 7512 URI naming exactly this token by serial and label (after initialisation):
 * "pkcs11:token=card-1;serial=1a2b..." */
int hsm_card_token_uri(struct hsm_card *c, char *buf, size_t cap, efos_err *e);

/* Blank: not initialised, or initialised with no objects at all. user_pin (may be NULL) lets
 * the check also see private objects; without it only public objects can be counted, and a
 * token whose user PIN is set is reported not blank when it holds any object it shows. */
int hsm_card_is_blank(struct hsm_card *c, const char *user_pin, bool *blank, size_t *n_objects,
		      efos_err *e);

/* C_InitToken: erases the token and sets its SO PIN and label (<= 32 bytes). Refused while we
 * hold a session on it. */
int hsm_card_init_token(struct hsm_card *c, const char *so_pin, const char *label, efos_err *e);
/* SO login with so_pin (the SO PIN / PUK) then C_InitPIN(user_pin): sets the first user PIN
 * of a fresh card, and unblocks a locked PIN. EFOS_E_AUTH when the SO PIN is wrong/locked. */
int hsm_card_init_pin(struct hsm_card *c, const char *so_pin, const char *user_pin, efos_err *e);
/* The holder changes the PIN: user login with old_pin, C_SetPIN(old, new). */
int hsm_card_set_pin(struct hsm_card *c, const char *old_pin, const char *new_pin, efos_err *e);
/* Checks a user PIN by logging in (and out). EFOS_E_AUTH when wrong or locked. */
int hsm_card_check_pin(struct hsm_card *c, const char *user_pin, efos_err *e);

/* A logged-in struct hsm for this card (one session), for hsm_keygen (token_object = true),
 * hsm_key_find, hsm_evp_pkey and the functions below. The caller hsm_close()s it. */
int hsm_card_login(struct hsm_card *c, const char *user_pin, struct hsm **out, efos_err *e);

/* Reads CKA_SENSITIVE, CKA_EXTRACTABLE, CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE of k's
 * private key and fails (EFOS_E_INVALID) unless the key is sensitive, not extractable and
 * never was. */
int hsm_card_key_check_nonextractable(struct hsm_key *k, efos_err *e);

/* Writes cert as a CKO_CERTIFICATE (CKC_X_509, CKA_TOKEN, CKA_ID = k's CKA_ID, CKA_LABEL =
 * label, CKA_SUBJECT/ISSUER/SERIAL_NUMBER/VALUE) next to k. Checks first that the
 * certificate's public key is k's. A certificate object already there with the same CKA_ID is
 * replaced (renewal). */
int hsm_card_write_cert(struct hsm_key *k, X509 *cert, const char *label, efos_err *e);
/* Reads the certificate object with k's CKA_ID (EFOS_E_NOTFOUND when there is none). */
int hsm_card_read_cert(struct hsm_key *k, X509 **out, efos_err *e);

#endif
