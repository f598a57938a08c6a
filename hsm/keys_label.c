/* Key objects by label prefix: for sweeping per-request keys (signer's efos-sig-*) that a crash
 * left on the token. Enumerates private and public key objects, so a pair half-deleted by a
 * crash is found too. */
#include <stdlib.h>
#include <string.h>
#include "hsm/internal.h"

/* Enough for any token we sweep; a token with more key objects than this is refused rather
 * than walked forever. */
#define LABEL_SCAN_MAX 100000
#define LABEL_MAX 256

struct label_arg {
	const char *prefix;
	const char *exact;        /* destroy: the label to delete */
	char **labels;            /* list: the distinct labels found */
	size_t n;
	size_t destroyed;
};

static void labels_clear(struct label_arg *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->labels[i]);
	free(a->labels);
	a->labels = NULL;
	a->n = 0;
}

static int labels_add(struct label_arg *a, const char *l)
{
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->labels[i], l) == 0)
			return 0;
	char **nl = realloc(a->labels, (a->n + 1) * sizeof *nl);
	if (nl == NULL)
		return -1;
	a->labels = nl;
	if ((a->labels[a->n] = strdup(l)) == NULL)
		return -1;
	a->n++;
	return 0;
}

/* Collects the handles of the key objects of one class, then reads their labels. */
static CK_RV scan_class(struct hsm *h, struct hsm_session *s, CK_OBJECT_CLASS cls, struct label_arg *a,
			efos_err *e)
{
	CK_FUNCTION_LIST_PTR fl = h->mod->fl;
	CK_ATTRIBUTE tmpl[2] = { { CKA_CLASS, &cls, sizeof cls } };
	CK_ULONG nt = 1;
	if (a->exact != NULL)
		tmpl[nt++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)a->exact, strlen(a->exact) };
	CK_OBJECT_HANDLE *objs = NULL, batch[64];
	size_t nobj = 0;
	CK_ULONG got;
	CK_RV rv = fl->C_FindObjectsInit(s->handle, tmpl, nt);
	if (rv != CKR_OK)
		return rv;
	do {
		got = 0;
		if ((rv = fl->C_FindObjects(s->handle, batch, 64, &got)) != CKR_OK)
			break;
		if (nobj + got > LABEL_SCAN_MAX) {
			fl->C_FindObjectsFinal(s->handle);
			free(objs);
			efos_fail(e, EFOS_E_INVALID, "HSM: more than %d key objects on the token; not scanning it",
				  LABEL_SCAN_MAX);
			return HSM_RV_FAILED;
		}
		CK_OBJECT_HANDLE *no = got ? realloc(objs, (nobj + got) * sizeof *no) : objs;
		if (got && no == NULL) {
			rv = CKR_HOST_MEMORY;
			break;
		}
		objs = no;
		memcpy(objs + nobj, batch, got * sizeof *batch);
		nobj += got;
	} while (got > 0);
	CK_RV rv2 = fl->C_FindObjectsFinal(s->handle);
	if (rv == CKR_OK)
		rv = rv2;
	for (size_t i = 0; rv == CKR_OK && i < nobj; i++) {
		char label[LABEL_MAX + 1];
		CK_ATTRIBUTE la = { CKA_LABEL, label, LABEL_MAX };
		CK_RV r = fl->C_GetAttributeValue(s->handle, objs[i], &la, 1);
		if (r == CKR_BUFFER_TOO_SMALL || r == CKR_ATTRIBUTE_TYPE_INVALID ||
		    la.ulValueLen == CK_UNAVAILABLE_INFORMATION)
			continue;   /* too long to be ours, or no label */
		if (r != CKR_OK) {
			rv = r;
			break;
		}
		label[la.ulValueLen] = '\0';
		if (a->exact != NULL) {
			if ((rv = fl->C_DestroyObject(s->handle, objs[i])) == CKR_OK)
				a->destroyed++;
		} else if (strncmp(label, a->prefix, strlen(a->prefix)) == 0 && labels_add(a, label) < 0) {
			rv = CKR_HOST_MEMORY;
		}
	}
	free(objs);
	return rv;
}

static CK_RV list_op(struct hsm *h, struct hsm_session *s, void *argp, efos_err *e)
{
	struct label_arg *a = argp;
	labels_clear(a);   /* a retry after recovery starts again */
	CK_RV rv = scan_class(h, s, CKO_PRIVATE_KEY, a, e);
	return rv == CKR_OK ? scan_class(h, s, CKO_PUBLIC_KEY, a, e) : rv;
}

int hsm_key_labels(struct hsm *h, const char *prefix, char ***labels, size_t *n, efos_err *e)
{
	struct label_arg a = { .prefix = prefix };
	*labels = NULL;
	*n = 0;
	if (prefix == NULL || *prefix == '\0')
		return efos_fail(e, EFOS_E_INVALID, "HSM key listing: a label prefix is required");
	if (hsm_run(h, "key listing", false, list_op, &a, e) < 0) {
		labels_clear(&a);
		return -1;
	}
	*labels = a.labels;
	*n = a.n;
	return 0;
}

void hsm_labels_free(char **labels, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(labels[i]);
	free(labels);
}

static CK_RV destroy_label_op(struct hsm *h, struct hsm_session *s, void *argp, efos_err *e)
{
	struct label_arg *a = argp;
	CK_RV rv = scan_class(h, s, CKO_PRIVATE_KEY, a, e);
	return rv == CKR_OK ? scan_class(h, s, CKO_PUBLIC_KEY, a, e) : rv;
}

int hsm_key_destroy_by_label(struct hsm *h, const char *label, size_t *n, efos_err *e)
{
	struct label_arg a = { .exact = label };
	if (n != NULL)
		*n = 0;
	if (label == NULL || *label == '\0')
		return efos_fail(e, EFOS_E_INVALID, "HSM key deletion: a label is required");
	int rc = hsm_run(h, "key deletion by label", true, destroy_label_op, &a, e);
	if (n != NULL)
		*n = a.destroyed;
	return rc;
}
