/* The IdP's shared data: a validated AuthnRequest (idp/authn_request.c produces it), the
 * authenticated subject (from the card login, certs_card_login), and what the response builder
 * (idp/response.c) needs. Owned by the login transaction (idp/sso_flow.c). */
#ifndef EFOS_IDP_TYPES_H
#define EFOS_IDP_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <openssl/x509.h>

struct idp_sp;

/* SAML status to answer with when a request can be answered but not satisfied (spec §1.9). */
struct idp_status {
	const char *top;        /* urn:oasis:names:tc:SAML:2.0:status:Requester / Responder / Success */
	const char *second;     /* e.g. ...:status:NoAuthnContext, ...:RequestDenied, UnknownPrincipal,
				   NoPassive, AuthnFailed, or http://id.elegnamnden.se/status/1.0/cancel; NULL */
	char message[256];      /* StatusMessage, for the SP's operators (no personal data) */
};

enum idp_sig_msg_mime { IDP_SIGMSG_TEXT, IDP_SIGMSG_MARKDOWN, IDP_SIGMSG_HTML };

/* A validated request. Every string is owned by the struct (freed by idp_authn_request_free). */
struct idp_authn_request {
	char *id;                     /* AuthnRequest/@ID (replay-checked) */
	char *issuer;                 /* the SP's entityID */
	const struct idp_sp *sp;      /* from the metadata snapshot the request was checked against */
	char *relay_state;            /* NULL when absent */
	char *acs_url;                /* resolved against metadata */
	int acs_binding;              /* enum idp_binding: POST (responses are always POSTed) */
	bool hok;                     /* arrived on a holder-of-key endpoint */
	bool force_authn;
	bool is_passive;
	char *name_id_format;         /* requested NameIDPolicy/@Format (NULL = unspecified) */
	bool allow_create;
	char **requested_loa;         /* RequestedAuthnContext ClassRefs (exact); NULL,0 = none given */
	size_t n_requested_loa;
	char *chosen_loa;             /* the one we will answer with (loa4), decided at intake */
	time_t issue_instant;

	/* Swedish extensions (spec §5, §6, §8) */
	bool has_sign_message;
	bool sign_message_must_show;
	enum idp_sig_msg_mime sign_message_mime;
	char *sign_message;           /* decrypted, UTF-8 */
	char *sign_message_display_entity;
	bool sad_requested;
	char *sad_request_id;         /* SADRequest/@ID */
	char *sad_sign_request_id;    /* SADRequest/SignRequestID */
	int sad_doc_count;            /* SADRequest/DocCount */
	char *sad_requester_id;       /* SADRequest/RequesterID */
	char **principal_attr_names;  /* PrincipalSelection MatchValue/@Name */
	char **principal_attr_values;
	size_t n_principal;
	bool is_sigservice;           /* SP has http://id.elegnamnden.se/st/1.0/sigservice */

	/* Added by the intake (idp/authn_request.c). */
	int received_binding;         /* enum idp_binding the request came with: REDIRECT or POST */
	int attr_consuming_index;     /* AttributeConsumingServiceIndex, -1 when absent */
	char **requester_ids;         /* Scoping/RequesterID values (a signature service's requestor) */
	size_t n_requester_ids;
	size_t sign_message_len;      /* bytes of sign_message (UTF-8, no NUL inside) */
	bool sign_message_encrypted;  /* it came as csig:EncryptedMessage */
	char *sad_version;            /* SADRequest/RequestedVersion ("1.0" when absent) */
};
void idp_authn_request_free(struct idp_authn_request *r);

/* One active affiliation of the subject. */
struct idp_affiliation {
	char *org_affiliation;        /* local_id@orgnr */
	char *orgnr;                  /* 10 digits */
	char *org_name;
};

/* Who logged in, with what. Filled from struct certs_validation by the card login. */
struct idp_subject {
	long person_id;
	char *pnr;                    /* 12 digits */
	bool is_coordination_number;
	char *given_name, *surname, *display_name;
	struct idp_affiliation *affiliations;
	size_t n_affiliations;
	X509 *card_cert;              /* the authentication certificate presented (owned) */
	time_t authn_instant;         /* when the card was used */
	char *loa;                    /* http://id.elegnamnden.se/loa/1.0/loa4 */
	char *client_address;         /* SubjectConfirmationData/@Address */
};
void idp_subject_free(struct idp_subject *s);

#endif
