/* Which SAML attribute values go where in the signer certificate (spec §7.6): the request's
 * RequestedCertAttributes (CertAttributeRef, CertNameType, SamlAttributeName by Order,
 * DefaultValue only when the assertion has no value, Required), or when the request names none
 * the default mapping of the [signer] profile. The serialNumber (2.5.4.5) is mandatory. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <openssl/objects.h>
#include "core/utf8.h"
#include "signer/signer_cert_internal.h"

#define OID_PNR "urn:oid:1.2.752.29.4.13"
#define OID_PRID "urn:oid:1.2.752.201.3.4"
#define OID_EIDAS_ID "urn:oid:1.2.752.201.3.7"
#define OID_ORG_AFFILIATION "urn:oid:1.2.752.201.3.1"
#define OID_ORG_ID "urn:oid:2.5.4.97"

bool signer_utf8_ok(const char *s, size_t max)
{
	long n = utf8_chars(s);
	return n >= 0 && (size_t)n <= max;
}

static const struct dss_attr *attr_find(const struct signer_cert_request *r, const char *name)
{
	for (size_t i = 0; i < r->n_attrs; i++)
		if (r->attrs[i].name != NULL && strcmp(r->attrs[i].name, name) == 0)
			return r->n_attrs > 0 && r->attrs[i].n_values > 0 && r->attrs[i].values[0] != NULL &&
				       r->attrs[i].values[0][0] != '\0'
			       ? &r->attrs[i]
			       : NULL;
	return NULL;
}

static int add(struct signer_map *m, enum dss_cert_name_type type, const char *ref, const char *value,
	       const struct dss_attr *src, const char *src_value, struct dss_result *res, efos_err *e)
{
	if (m->n >= sizeof m->m / sizeof m->m[0]) {
		res->major = DSS_MAJOR_REQUESTER;
		res->minor = DSS_MINOR_GENERAL_ERROR;
		snprintf(res->message, sizeof res->message, "too many requested certificate attributes");
		return efos_fail(e, EFOS_E_INVALID, "more than %zu certificate attributes requested",
				 sizeof m->m / sizeof m->m[0]);
	}
	if (!signer_utf8_ok(value, SIGNER_VALUE_MAX)) {
		res->major = DSS_MAJOR_REQUESTER;
		res->minor = DSS_MINOR_GENERAL_ERROR;
		snprintf(res->message, sizeof res->message,
			 "the value for certificate attribute %.64s is not UTF-8 text of at most %d characters",
			 ref, SIGNER_VALUE_MAX);
		return efos_fail(e, EFOS_E_INVALID, "%s", res->message);
	}
	struct signer_mapping *x = &m->m[m->n++];
	x->type = type;
	snprintf(x->ref, sizeof x->ref, "%s", ref);
	x->value = value;
	x->source = src;
	x->source_value = src_value;
	return 0;
}

static int refuse(struct dss_result *res, efos_err *e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(struct dss_result *res, efos_err *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	res->major = DSS_MAJOR_REQUESTER;
	res->minor = DSS_MINOR_GENERAL_ERROR;
	vsnprintf(res->message, sizeof res->message, fmt, ap);
	va_end(ap);
	return efos_fail(e, EFOS_E_INVALID, "%s", res->message);
}

/* A CertAttributeRef: a dotted OID for rdn and sda, a GeneralName tag (0..8) for san. */
static bool ref_ok(const struct dss_cert_attr *ca)
{
	const char *s = ca->ref;
	if (s == NULL || *s == '\0' || strlen(s) >= 64)
		return false;
	if (ca->type == DSS_NAME_SAN)
		return s[1] == '\0' && s[0] >= '0' && s[0] <= '8';
	for (const char *p = s; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p == '.' && p != s && p[1] != '.' && p[1] != '\0')))
			return false;
	ASN1_OBJECT *o = OBJ_txt2obj(s, 1);
	ASN1_OBJECT_free(o);
	return o != NULL;
}

static int map_requested(const struct signer_cert_request *r, struct signer_map *m, struct dss_result *res,
			 efos_err *e)
{
	const struct dss_sign_request *q = r->req;
	for (size_t i = 0; i < q->n_cert_attrs; i++) {
		const struct dss_cert_attr *ca = &q->cert_attrs[i];
		if (!ref_ok(ca))
			return refuse(res, e, "RequestedCertAttributes: CertAttributeRef \"%.64s\" is not %s",
				      ca->ref ? ca->ref : "",
				      ca->type == DSS_NAME_SAN ? "a GeneralName tag 0-8" : "an OID");
		const struct dss_attr *best = NULL;
		int best_order = 0;
		for (size_t j = 0; j < ca->n_sources; j++) {
			const struct dss_attr *a = ca->sources[j].name ? attr_find(r, ca->sources[j].name) : NULL;
			if (a != NULL && (best == NULL || ca->sources[j].order < best_order)) {
				best = a;
				best_order = ca->sources[j].order;
			}
		}
		const char *name = ca->friendly_name ? ca->friendly_name : ca->ref;
		if (best != NULL) {
			if (add(m, ca->type, ca->ref, best->values[0], best, best->values[0], res, e) < 0)
				return -1;
		} else if (ca->default_value != NULL && ca->default_value[0] != '\0') {
			if (add(m, ca->type, ca->ref, ca->default_value, NULL, NULL, res, e) < 0)
				return -1;
		} else if (ca->required) {
			return refuse(res, e, "the required certificate attribute %.64s (%.80s) has no value in "
				      "the assertion", name,
				      ca->n_sources > 0 && ca->sources[0].name ? ca->sources[0].name : "no SAML attribute named");
		}
	}
	return 0;
}

/* serialNumber <- personnummer | prid | eidasPersonIdentifier; C default SE; the others when
 * present (the profile's subject decides nothing here: the mapping is the subject). */
static int map_default(const struct signer_cert_request *r, struct signer_map *m, struct dss_result *res,
		       efos_err *e)
{
	static const char *const id_sources[] = { OID_PNR, OID_PRID, OID_EIDAS_ID };
	static const struct { const char *ref, *attr, *def; } rdn[] = {
		{ "2.5.4.6", "urn:oid:2.5.4.6", "SE" },       /* C */
		{ "2.5.4.10", "urn:oid:2.5.4.10", NULL },     /* O */
		{ "2.5.4.97", OID_ORG_ID, NULL },             /* organizationIdentifier */
		{ "2.5.4.4", "urn:oid:2.5.4.4", NULL },       /* surname */
		{ "2.5.4.42", "urn:oid:2.5.4.42", NULL },     /* givenName */
		{ "2.5.4.5", NULL, NULL },                    /* serialNumber */
		{ "2.5.4.3", "urn:oid:2.16.840.1.113730.3.1.241", NULL },  /* CN <- displayName */
	};
	for (size_t i = 0; i < sizeof rdn / sizeof rdn[0]; i++) {
		const struct dss_attr *a = NULL;
		if (rdn[i].attr == NULL) {
			for (size_t j = 0; a == NULL && j < sizeof id_sources / sizeof id_sources[0]; j++)
				a = attr_find(r, id_sources[j]);
		} else {
			a = attr_find(r, rdn[i].attr);
		}
		int rc = 0;
		if (a != NULL) {
			rc = add(m, DSS_NAME_RDN, rdn[i].ref, a->values[0], a, a->values[0], res, e);
		} else if (strcmp(rdn[i].ref, "2.5.4.97") == 0 &&
			   (a = attr_find(r, OID_ORG_AFFILIATION)) != NULL) {
			/* personal-id@orgnr: the org part after the LAST '@' (spec §9.2). */
			const char *at = strrchr(a->values[0], '@');
			if (at != NULL && at[1] != '\0') {
				snprintf(m->derived, sizeof m->derived, "%s", at + 1);
				rc = add(m, DSS_NAME_RDN, rdn[i].ref, m->derived, a, a->values[0], res, e);
			}
		} else if (rdn[i].def != NULL) {
			rc = add(m, DSS_NAME_RDN, rdn[i].ref, rdn[i].def, NULL, NULL, res, e);
		}
		if (rc < 0)
			return -1;
	}
	/* E-mail, if present: subjectAltName rfc822Name (spec §7.6). */
	const struct dss_attr *mail = attr_find(r, "urn:oid:0.9.2342.19200300.100.1.3");
	if (mail != NULL && add(m, DSS_NAME_SAN, "1", mail->values[0], mail, mail->values[0], res, e) < 0)
		return -1;
	return 0;
}

int signer_map_build(const struct signer_cert_request *r, struct signer_map *out, struct dss_result *res,
		     efos_err *e)
{
	memset(out, 0, sizeof *out);
	int rc = r->req != NULL && r->req->n_cert_attrs > 0 ? map_requested(r, out, res, e) : map_default(r, out, res, e);
	if (rc < 0)
		return -1;
	for (size_t i = 0; i < out->n; i++)
		if (out->m[i].type == DSS_NAME_RDN && strcmp(out->m[i].ref, "2.5.4.5") == 0)
			return 0;
	if (r->req != NULL && r->req->n_cert_attrs > 0)
		return refuse(res, e, "the signer certificate needs a serialNumber (2.5.4.5): "
			      "RequestedCertAttributes maps none, or its source has no value");
	return refuse(res, e, "the signer certificate needs a serialNumber (2.5.4.5): the assertion has no "
		      "personalIdentityNumber, prid or eidasPersonIdentifier");
}
