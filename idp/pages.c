/* Page rendering for the IdP (idp/pages.h). */
#include <dirent.h>
#include <limits.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/hex.h"
#include "core/log.h"
#include "core/sbuf.h"
#include "idp/pages.h"

char *idp_page_nonce(void)
{
	unsigned char r[16];
	char *n = malloc(2 * sizeof r + 1);
	if (n == NULL || RAND_bytes(r, sizeof r) != 1) {
		free(n);
		return NULL;
	}
	hex_encode(r, sizeof r, n);
	return n;
}

char *idp_html_escape(const char *s)
{
	struct sbuf b = { 0 };
	sbuf_esc(&b, s ? s : "");
	return sbuf_take(&b);
}

/* ---- the message catalogue -------------------------------------------------------------------- */

struct msg {
	const char *key, *sv, *en;
};

static const struct msg catalogue[] = {
	{ "lang", "sv", "en" },
	{ "other_lang", "en", "sv" },
	{ "other_lang_name", "English", "Svenska" },
	{ "service", "EFOS – inloggning med e-tjänstekort", "EFOS – login with the public-sector eID card" },
	{ "error_title", "Inloggningen kunde inte genomföras", "The login could not be completed" },
	{ "error_ok_intro", "Tjänsten som du kom ifrån får veta att inloggningen inte gick igenom när du klickar på OK.",
	  "The service you came from will be told that the login did not succeed when you click OK." },
	{ "error_no_return", "Gå tillbaka till tjänsten och försök igen. Kontakta tjänstens support om felet kvarstår.",
	  "Go back to the service and try again. Contact the service's support if the problem persists." },
	{ "error_reason", "Orsak", "Reason" },
	{ "ok", "OK", "OK" },
	{ "requested_by", "Inloggning begärd av", "Login requested by" },
	{ "consent_title", "Följande uppgifter skickas till tjänsten", "The following information will be sent to the service" },
	{ "consent_nothing", "Inga personuppgifter skickas, bara en pseudonym för dig hos denna tjänst.",
	  "No personal data is sent, only a pseudonym for you at this service." },
	{ "consent_remember", "Kom ihåg mitt val för denna tjänst", "Remember my choice for this service" },
	{ "continue", "Fortsätt", "Continue" },
	{ "cancel", "Avbryt", "Cancel" },
	{ "logged_in_as", "Inloggad som", "Logged in as" },
	{ "sso_note", "Du loggade in med ditt kort för en stund sedan; kortet används inte igen.",
	  "You logged in with your card a moment ago; the card is not used again." },
	{ "sign_title", "Du håller på att skriva under", "You are about to sign" },
	{ "sign_intro", "Läs meddelandet nedan. Genom att godkänna skriver du under med din e-legitimation.",
	  "Read the message below. By accepting you sign with your eID." },
	{ "sign_accept", "Skriv under", "Sign" },
	{ "sign_must_show", "Tjänsten kräver att du har sett detta meddelande innan du skriver under.",
	  "The service requires that you have seen this message before you sign." },
	{ "post_title", "Skickar dig tillbaka till tjänsten", "Taking you back to the service" },
	{ "post_noscript", "Klicka på Fortsätt för att komma tillbaka till tjänsten.",
	  "Click Continue to return to the service." },
	{ "card_title", "Logga in med ditt EFOS-kort", "Log in with your EFOS card" },
	{ "attribute", "Uppgift", "Information" },
	{ "value", "Värde", "Value" },
};

const char *idp_pages_text(const char *key, const char *lang)
{
	bool en = lang != NULL && strcmp(lang, "en") == 0;
	for (size_t i = 0; i < sizeof catalogue / sizeof catalogue[0]; i++)
		if (strcmp(catalogue[i].key, key) == 0)
			return en ? catalogue[i].en : catalogue[i].sv;
	return "";
}

/* ---- language ----------------------------------------------------------------------------------- */

const char *idp_pages_lang(const struct http_request *req)
{
	const char *q = http_req_query(req, "lang");
	if (q != NULL) {
		if (strcmp(q, "en") == 0)
			return "en";
		if (strcmp(q, "sv") == 0)
			return "sv";
	}
	const char *al = http_req_header(req, "Accept-Language");
	if (al == NULL)
		return "sv";
	/* The first of sv / en with the highest q (ties: the earlier one). */
	double best_q = -1;
	const char *best = "sv";
	const char *p = al;
	while (*p != '\0') {
		while (*p == ' ' || *p == ',')
			p++;
		const char *tag = p;
		while (*p != '\0' && *p != ',' && *p != ';' && *p != ' ')
			p++;
		size_t tl = (size_t)(p - tag);
		double qv = 1.0;
		while (*p != '\0' && *p != ',') {
			if (strncmp(p, ";q=", 3) == 0 || strncmp(p, "; q=", 4) == 0)
				qv = strtod(strchr(p, '=') + 1, NULL);
			p++;
		}
		const char *which = NULL;
		if (tl >= 2 && strncasecmp(tag, "sv", 2) == 0 && (tl == 2 || tag[2] == '-'))
			which = "sv";
		else if (tl >= 2 && strncasecmp(tag, "en", 2) == 0 && (tl == 2 || tag[2] == '-'))
			which = "en";
		if (which != NULL && qv > best_q && qv > 0) {
			best_q = qv;
			best = which;
		}
	}
	return best;
}

/* ---- templates ---------------------------------------------------------------------------------- */

#define MAX_TEMPLATES 32
#define MAX_TEMPLATE_BYTES (256 * 1024)

static struct tmpl {
	char name[64];
	char *text;
} g_tmpl[MAX_TEMPLATES];
static size_t g_ntmpl;
static char g_dir[PATH_MAX];

static bool is_dir(const char *p)
{
	struct stat sb;
	return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static void default_web_dir(char *buf, size_t n)
{
	char exe[PATH_MAX - 32];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (len > 0) {
		exe[len] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash != NULL) {
			*slash = '\0';
			slash = strrchr(exe, '/');
			if (slash != NULL) {
				*slash = '\0';
				snprintf(buf, n, "%s/web", exe);
				if (is_dir(buf))
					return;
				snprintf(buf, n, "%s/share/efos/web", exe);
				if (is_dir(buf))
					return;
			}
		}
	}
	snprintf(buf, n, "/usr/share/efos/web");
}

const char *idp_pages_dir(void)
{
	return g_dir;
}

static char *read_file(const char *path, efos_err *e)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		efos_fail(e, EFOS_E_CONFIG, "%s: cannot read", path);
		return NULL;
	}
	char *buf = malloc(MAX_TEMPLATE_BYTES + 1);
	size_t n = buf ? fread(buf, 1, MAX_TEMPLATE_BYTES + 1, f) : 0;
	fclose(f);
	if (buf == NULL || n > MAX_TEMPLATE_BYTES) {
		free(buf);
		efos_fail(e, EFOS_E_CONFIG, "%s: too large or out of memory", path);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

int idp_pages_load(const char *dir, efos_err *e)
{
	idp_pages_unload();
	if (dir == NULL || dir[0] == '\0' || strcmp(dir, "auto") == 0)
		default_web_dir(g_dir, sizeof g_dir);
	else
		snprintf(g_dir, sizeof g_dir, "%s", dir);
	char idpdir[PATH_MAX + 8];
	snprintf(idpdir, sizeof idpdir, "%s/idp", g_dir);
	DIR *d = opendir(idpdir);
	if (d == NULL)
		return efos_fail(e, EFOS_E_CONFIG, "idp.web_dir: %s: no such directory (the IdP's page templates)", idpdir);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		if (l < 6 || l >= sizeof g_tmpl[0].name + 5 || strcmp(de->d_name + l - 5, ".html") != 0)
			continue;
		if (g_ntmpl == MAX_TEMPLATES) {
			closedir(d);
			return efos_fail(e, EFOS_E_CONFIG, "%s: more than %d templates", idpdir, MAX_TEMPLATES);
		}
		char path[PATH_MAX + 300];
		snprintf(path, sizeof path, "%s/%s", idpdir, de->d_name);
		char *t = read_file(path, e);
		if (t == NULL) {
			closedir(d);
			return -1;
		}
		snprintf(g_tmpl[g_ntmpl].name, sizeof g_tmpl[g_ntmpl].name, "%.*s", (int)(l - 5), de->d_name);
		g_tmpl[g_ntmpl++].text = t;
	}
	closedir(d);
	static const char *const needed[] = { "layout", "error", "consent", "signmessage", "post" };
	for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++) {
		bool found = false;
		for (size_t j = 0; j < g_ntmpl; j++)
			found |= strcmp(g_tmpl[j].name, needed[i]) == 0;
		if (!found)
			return efos_fail(e, EFOS_E_CONFIG, "%s: the template %s.html is missing", idpdir, needed[i]);
	}
	return 0;
}

void idp_pages_unload(void)
{
	for (size_t i = 0; i < g_ntmpl; i++)
		free(g_tmpl[i].text);
	g_ntmpl = 0;
}

static const char *tmpl_get(const char *name)
{
	for (size_t i = 0; i < g_ntmpl; i++)
		if (strcmp(g_tmpl[i].name, name) == 0)
			return g_tmpl[i].text;
	return NULL;
}

static const char *var_get(const struct idp_page_var *v, size_t n, const char *name, size_t nl)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(v[i].name) == nl && strncmp(v[i].name, name, nl) == 0)
			return v[i].value;
	return NULL;
}

static void expand(struct sbuf *b, const char *t, size_t len, const char *lang, const struct idp_page_var *v,
		   size_t n)
{
	const char *end = t + len;
	while (t < end) {
		const char *o = memmem(t, (size_t)(end - t), "{{", 2);
		if (o == NULL) {
			sbuf_add(b, t, (size_t)(end - t));
			return;
		}
		sbuf_add(b, t, (size_t)(o - t));
		bool raw = o + 2 < end && o[2] == '{';
		const char *ns = o + (raw ? 3 : 2);
		const char *c = memmem(ns, (size_t)(end - ns), raw ? "}}}" : "}}", raw ? 3 : 2);
		if (c == NULL) {
			sbuf_add(b, o, (size_t)(end - o));
			return;
		}
		size_t nl = (size_t)(c - ns);
		const char *after = c + (raw ? 3 : 2);
		if (!raw && nl > 1 && ns[0] == '?') {
			/* section: {{?name}} ... {{/name}} */
			char close[80];
			int cl = snprintf(close, sizeof close, "{{/%.*s}}", (int)(nl - 1), ns + 1);
			const char *ce = cl > 0 && (size_t)cl < sizeof close ? memmem(after, (size_t)(end - after), close, (size_t)cl) : NULL;
			if (ce == NULL) {
				t = after;
				continue;
			}
			const char *val = var_get(v, n, ns + 1, nl - 1);
			if (val != NULL && val[0] != '\0')
				expand(b, after, (size_t)(ce - after), lang, v, n);
			t = ce + cl;
			continue;
		}
		if (!raw && nl > 1 && ns[0] == '_') {
			char key[64];
			snprintf(key, sizeof key, "%.*s", (int)(nl - 1), ns + 1);
			sbuf_esc(b, idp_pages_text(key, lang));
		} else {
			const char *val = var_get(v, n, ns, nl);
			if (val == NULL)
				log_debug("page template: no value for {{%.*s}}", (int)nl, ns);
			else if (raw)
				sbuf_str(b, val);
			else
				sbuf_esc(b, val);
		}
		t = after;
	}
}

char *idp_page_render(const char *name, const char *lang, const struct idp_page_var *vars, size_t n)
{
	const char *body_t = tmpl_get(name), *layout = tmpl_get("layout");
	if (body_t == NULL || layout == NULL) {
		log_error("page template %s is not loaded", name);
		return NULL;
	}
	struct sbuf body = { 0 };
	expand(&body, body_t, strlen(body_t), lang, vars, n);
	char *bodys = sbuf_take(&body);
	if (bodys == NULL)
		return NULL;
	struct idp_page_var lv[40];
	size_t k = 0;
	for (size_t i = 0; i < n && k < 38; i++)
		lv[k++] = vars[i];
	lv[k++] = (struct idp_page_var){ "body", bodys };
	struct sbuf out = { 0 };
	expand(&out, layout, strlen(layout), lang, lv, k);
	free(bodys);
	return sbuf_take(&out);
}

/* Characters that may appear in a CSP source expression taken from a URL. */
static bool csp_safe(const char *u)
{
	if (u == NULL || strncmp(u, "https://", 8) != 0 || strlen(u) > 512)
		return false;
	for (const char *p = u; *p; p++)
		if (*p <= ' ' || *p == ';' || *p == ',' || *p == '\'' || *p == '"' || *p >= 0x7f)
			return false;
	return true;
}

void idp_page_send(struct http_response *resp, int status, char *html, const char *nonce, const char *form_target)
{
	if (html == NULL) {
		http_resp_error(resp, 500, "the page could not be rendered");
		return;
	}
	char csp[1200];
	char target[600] = "";
	if (form_target != NULL && csp_safe(form_target)) {
		/* scheme://host[:port] of the ACS: a redirect at the SP stays allowed */
		const char *h = form_target + 8;
		const char *slash = strchr(h, '/');
		size_t l = slash ? (size_t)(slash - form_target) : strlen(form_target);
		snprintf(target, sizeof target, " %.*s", (int)l, form_target);
	}
	snprintf(csp, sizeof csp,
		 "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'%s; "
		 "frame-ancestors 'none'; base-uri 'none'%s%s%s",
		 target, nonce ? "; script-src 'nonce-" : "", nonce ? nonce : "", nonce ? "'" : "");
	http_resp_status(resp, status);
	http_resp_header(resp, "Content-Security-Policy", csp);
	http_resp_header(resp, "Cache-Control", "no-store");
	http_resp_header(resp, "Pragma", "no-cache");
	http_resp_header(resp, "X-Frame-Options", "DENY");
	http_resp_header(resp, "X-Content-Type-Options", "nosniff");
	http_resp_header(resp, "Referrer-Policy", "no-referrer");
	http_resp_body_take(resp, "text/html; charset=utf-8", html, strlen(html));
}

/* ---- sign message ------------------------------------------------------------------------------- */

static bool utf8_valid(const unsigned char *s)
{
	while (*s) {
		if (*s < 0x80) {
			if (*s < 0x20 && *s != '\n' && *s != '\r' && *s != '\t')
				return false;
			s++;
			continue;
		}
		int n = (*s & 0xe0) == 0xc0 ? 1 : (*s & 0xf0) == 0xe0 ? 2 : (*s & 0xf8) == 0xf0 ? 3 : -1;
		if (n < 0 || (*s == 0xc0 || *s == 0xc1) || *s > 0xf4)
			return false;
		for (int i = 1; i <= n; i++)
			if ((s[i] & 0xc0) != 0x80)
				return false;
		s += n + 1;
	}
	return true;
}

/* text: escaped, each line break a <br>. */
static void render_text(struct sbuf *b, const char *s, size_t len)
{
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\n' || s[i] == '\r') {
			sbuf_esc_n(b, s + start, i - start);
			sbuf_str(b, "<br>");
			if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
				i++;
			start = i + 1;
		}
	}
	sbuf_esc_n(b, s + start, len - start);
}

/* Markdown inline: **bold**, *italic* / _italic_; the rest escaped. */
static void md_inline(struct sbuf *b, const char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		if (i + 1 < len && s[i] == '*' && s[i + 1] == '*') {
			const char *e = memmem(s + i + 2, len - i - 2, "**", 2);
			if (e != NULL && e > s + i + 2) {
				sbuf_str(b, "<strong>");
				md_inline(b, s + i + 2, (size_t)(e - (s + i + 2)));
				sbuf_str(b, "</strong>");
				i = (size_t)(e - s) + 2;
				continue;
			}
		}
		if (s[i] == '*' || s[i] == '_') {
			const char *e = memchr(s + i + 1, s[i], len - i - 1);
			if (e != NULL && e > s + i + 1) {
				sbuf_str(b, "<em>");
				sbuf_esc_n(b, s + i + 1, (size_t)(e - (s + i + 1)));
				sbuf_str(b, "</em>");
				i = (size_t)(e - s) + 1;
				continue;
			}
		}
		sbuf_esc_n(b, s + i, 1);
		i++;
	}
}

static void render_markdown(struct sbuf *b, const char *s)
{
	enum { NONE, PARA, UL, OL } open = NONE;
	const char *p = s;
	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == ' '))
			len--;
		const char *l = p;
		size_t ll = len;
		while (ll > 0 && *l == ' ') {
			l++;
			ll--;
		}
		int heading = 0;
		while ((size_t)heading < ll && heading < 4 && l[heading] == '#')
			heading++;
		bool is_h = heading > 0 && (size_t)heading < ll && l[heading] == ' ';
		bool is_ul = ll >= 2 && (l[0] == '-' || l[0] == '*' || l[0] == '+') && l[1] == ' ';
		size_t d = 0;
		while (d < ll && l[d] >= '0' && l[d] <= '9')
			d++;
		bool is_ol = d > 0 && d + 1 < ll && l[d] == '.' && l[d + 1] == ' ';
		/* close what does not continue */
		if (open != NONE && (ll == 0 || is_h || (open == UL && !is_ul) || (open == OL && !is_ol) ||
				     (open == PARA && (is_ul || is_ol)))) {
			sbuf_str(b, open == PARA ? "</p>" : open == UL ? "</ul>" : "</ol>");
			open = NONE;
		}
		if (ll == 0) {
			/* blank line */
		} else if (is_h) {
			static const char *const htags[] = { "h2>", "h3>", "h4>", "h4>" };
			const char *tag = htags[heading - 1];
			sbuf_str(b, "<");
			sbuf_str(b, tag);
			md_inline(b, l + heading + 1, ll - (size_t)heading - 1);
			sbuf_str(b, "</");
			sbuf_str(b, tag);
		} else if (is_ul || is_ol) {
			if (open == NONE) {
				sbuf_str(b, is_ul ? "<ul>" : "<ol>");
				open = is_ul ? UL : OL;
			}
			size_t skip = is_ul ? 2 : d + 2;
			sbuf_str(b, "<li>");
			md_inline(b, l + skip, ll - skip);
			sbuf_str(b, "</li>");
		} else {
			if (open == NONE) {
				sbuf_str(b, "<p>");
				open = PARA;
			} else {
				sbuf_str(b, "<br>");
			}
			md_inline(b, l, ll);
		}
		p = nl ? nl + 1 : p + strlen(p);
	}
	if (open != NONE)
		sbuf_str(b, open == PARA ? "</p>" : open == UL ? "</ul>" : "</ol>");
}

/* HTML whitelist (spec §6.2). */
static const char *const tags_style[] = { "h1", "h2", "h3", "h4", "div", "span", "p", "table", "tr", "td", "b", "strong" };
static const char *const tags_bare[] = { "i", "u", "br", "ol", "ul", "li" };

static int tag_kind(const char *name, size_t nl)
{
	for (size_t i = 0; i < sizeof tags_style / sizeof tags_style[0]; i++)
		if (strlen(tags_style[i]) == nl && strncasecmp(tags_style[i], name, nl) == 0)
			return 1;
	for (size_t i = 0; i < sizeof tags_bare / sizeof tags_bare[0]; i++)
		if (strlen(tags_bare[i]) == nl && strncasecmp(tags_bare[i], name, nl) == 0)
			return 2;
	return 0;
}

/* A style value we keep: only declarations of letters, digits, spaces, # % . , - : ; and
 * parentheses for rgb(); nothing that loads anything (url, expression, @import, backslash). */
static bool style_ok(const char *v, size_t n)
{
	if (n > 256)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = v[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr(" #%.,-:;()", c) != NULL))
			return false;
	}
	char low[257];
	for (size_t i = 0; i < n; i++)
		low[i] = (char)((v[i] >= 'A' && v[i] <= 'Z') ? v[i] + 32 : v[i]);
	low[n] = '\0';
	return strstr(low, "url") == NULL && strstr(low, "expression") == NULL && strstr(low, "import") == NULL;
}

/* Tries to read one whitelisted tag at s (s[0] == '<'); on success appends its canonical form
 * and returns its length, else 0 (the caller escapes the '<'). */
static size_t html_tag(struct sbuf *b, const char *s)
{
	const char *p = s + 1;
	bool closing = *p == '/';
	if (closing)
		p++;
	const char *name = p;
	while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '1' && *p <= '4'))
		p++;
	size_t nl = (size_t)(p - name);
	int kind = nl ? tag_kind(name, nl) : 0;
	if (kind == 0)
		return 0;
	char lname[8];
	for (size_t i = 0; i < nl && i < sizeof lname - 1; i++)
		lname[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
	lname[nl < sizeof lname ? nl : sizeof lname - 1] = '\0';
	if (closing) {
		while (*p == ' ')
			p++;
		if (*p != '>')
			return 0;
		sbuf_str(b, "</");
		sbuf_str(b, lname);
		sbuf_str(b, ">");
		return (size_t)(p + 1 - s);
	}
	const char *style = NULL;
	size_t style_len = 0;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (*p == '>' || (p[0] == '/' && p[1] == '>'))
			break;
		/* an attribute: only style="..." on the style tags */
		if (kind != 1 || strncasecmp(p, "style", 5) != 0)
			return 0;
		p += 5;
		while (*p == ' ')
			p++;
		if (*p != '=')
			return 0;
		p++;
		while (*p == ' ')
			p++;
		char q = *p;
		if (q != '"' && q != '\'')
			return 0;
		const char *v = ++p;
		while (*p != '\0' && *p != q)
			p++;
		if (*p != q || style != NULL)
			return 0;
		style = v;
		style_len = (size_t)(p - v);
		p++;
		if (!style_ok(style, style_len))
			return 0;
	}
	sbuf_str(b, "<");
	sbuf_str(b, lname);
	if (style != NULL && style_len > 0) {
		sbuf_str(b, " style=\"");
		sbuf_esc_n(b, style, style_len);
		sbuf_str(b, "\"");
	}
	sbuf_str(b, ">");
	return (size_t)(p + (*p == '/' ? 2 : 1) - s);
}

static void render_html(struct sbuf *b, const char *s)
{
	static const char *const ents[] = { "&amp;", "&gt;", "&lt;", "&quot;", "&nbsp;" };
	const char *p = s;
	while (*p != '\0') {
		if (*p == '<') {
			size_t used = html_tag(b, p);
			if (used > 0) {
				p += used;
				continue;
			}
			sbuf_str(b, "&lt;");
			p++;
			continue;
		}
		if (*p == '&') {
			size_t i;
			for (i = 0; i < sizeof ents / sizeof ents[0]; i++)
				if (strncmp(p, ents[i], strlen(ents[i])) == 0)
					break;
			if (i < sizeof ents / sizeof ents[0]) {
				sbuf_str(b, ents[i]);
				p += strlen(ents[i]);
			} else {
				sbuf_str(b, "&amp;");
				p++;
			}
			continue;
		}
		sbuf_esc_n(b, p, 1);
		p++;
	}
}

char *idp_sign_message_html(enum idp_sig_msg_mime mime, const char *msg, efos_err *e)
{
	if (msg == NULL || !utf8_valid((const unsigned char *)msg)) {
		efos_fail(e, EFOS_E_INVALID, "the sign message is not valid UTF-8 text");
		return NULL;
	}
	struct sbuf b = { 0 };
	switch (mime) {
	case IDP_SIGMSG_TEXT: render_text(&b, msg, strlen(msg)); break;
	case IDP_SIGMSG_MARKDOWN: render_markdown(&b, msg); break;
	case IDP_SIGMSG_HTML: render_html(&b, msg); break;
	default:
		efos_fail(e, EFOS_E_INVALID, "unsupported sign message type");
		return NULL;
	}
	char *out = sbuf_take(&b);
	if (out == NULL)
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	return out;
}
