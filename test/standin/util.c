/*
 * util.c - small helpers of the OpenRouter stand-in: clock, whole-file
 * reads, strict JSON parsing and compact JSON printing, UTF-8 safe JSON
 * strings, base64url decoding, HTTP dates, and the --log request log
 * (one JSON line per request, serialized by a mutex, flushed per line).
 */
#define _GNU_SOURCE
#include "standin.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Largest body json_tokener_parse_ex can take (it counts in int). */
#define JSON_MAX_LEN ((size_t) 0x7ffffff0)
#define JSON_MAX_DEPTH 512

void *
xmalloc(size_t n)
{
	void	   *p = malloc(n ? n : 1);

	if (p == NULL)
	{
		fprintf(stderr, "standin: out of memory\n");
		abort();
	}
	return p;
}

char *
xstrdup(const char *s)
{
	size_t		n = strlen(s) + 1;

	return memcpy(xmalloc(n), s, n);
}

long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read a whole file, NUL-terminated.  NULL on error. */
char *
read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	struct stat st;
	char	   *buf;
	size_t		got;

	if (f == NULL)
		return NULL;
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
	{
		fclose(f);
		return NULL;
	}
	buf = xmalloc((size_t) st.st_size + 1);
	got = fread(buf, 1, (size_t) st.st_size, f);
	fclose(f);
	if (got != (size_t) st.st_size)
	{
		free(buf);
		return NULL;
	}
	buf[got] = '\0';
	if (len)
		*len = got;
	return buf;
}

static int
b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-' || c == '+')
		return 62;
	if (c == '_' || c == '/')
		return 63;
	return -1;
}

/*
 * Decode base64url (also accepts the standard alphabet; '=' padding is
 * optional).  Returns a malloc'd NUL-terminated buffer or NULL if invalid.
 */
char *
b64url_decode(const char *in, size_t *outlen)
{
	size_t		n = strlen(in);
	char	   *out = xmalloc(n * 3 / 4 + 4);
	size_t		o = 0;
	unsigned int acc = 0;
	int			bits = 0;
	size_t		i;

	while (n > 0 && in[n - 1] == '=')
		n--;
	for (i = 0; i < n; i++)
	{
		int			v = b64_value(in[i]);

		if (v < 0)
		{
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned int) v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			out[o++] = (char) ((acc >> bits) & 0xff);
		}
	}
	if (bits >= 6)				/* one dangling character: not base64 */
	{
		free(out);
		return NULL;
	}
	out[o] = '\0';
	if (outlen)
		*outlen = o;
	return out;
}

/* Compact JSON text of o, '/' unescaped.  Owned by o. */
const char *
json_text(json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
										  JSON_C_TO_STRING_NOSLASHESCAPE);
}

static bool
only_whitespace(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	return true;
}

/*
 * Parse exactly one JSON value (RFC 8259, valid UTF-8) from s[0..n),
 * allowing surrounding whitespace.  NULL when it is not that; note that
 * a valid JSON "null" also gives NULL, which callers treat as "not an
 * object" anyway.
 */
json_object *
json_parse_strict(const char *s, size_t n)
{
	struct json_tokener *tok;
	json_object *obj;
	enum json_tokener_error err;
	size_t		end;

	if (n == 0 || n > JSON_MAX_LEN || only_whitespace(s, n))
		return NULL;
	tok = json_tokener_new_ex(JSON_MAX_DEPTH);
	if (tok == NULL)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, s, (int) n);
	err = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (obj == NULL && err == json_tokener_continue)
	{
		/* a bare number at the very end needs a terminator */
		obj = json_tokener_parse_ex(tok, " ", 1);
		err = json_tokener_get_error(tok);
		end = n;
	}
	json_tokener_free(tok);
	if (err != json_tokener_success || !only_whitespace(s + end, n - end))
	{
		json_object_put(obj);
		return NULL;
	}
	return obj;
}

/* Length of the valid UTF-8 sequence at s (max n bytes), 0 if invalid. */
static size_t
utf8_seq_len(const unsigned char *s, size_t n)
{
	size_t		len;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
	{
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		(len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/* A JSON string of the bytes s[0..n); invalid UTF-8 becomes U+FFFD. */
json_object *
json_string_from_bytes(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *) s;
	char	   *clean;
	size_t		i = 0,
				o = 0;
	json_object *res;

	clean = xmalloc(n * 3 + 1);
	while (i < n)
	{
		size_t		len = utf8_seq_len(u + i, n - i);

		if (len == 0)
		{
			memcpy(clean + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
			continue;
		}
		memcpy(clean + o, s + i, len);
		o += len;
		i += len;
	}
	res = json_object_new_string_len(clean, (int) o);
	free(clean);
	return res;
}

/* IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT". */
void
http_date(time_t t, char *buf, size_t n)
{
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(buf, n, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* ---- request log --------------------------------------------------------- */

static FILE *log_file;
static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;

int
log_open(const char *path)
{
	log_file = fopen(path, "a");
	if (log_file == NULL)
	{
		fprintf(stderr, "standin: cannot open log %s: %s\n", path,
				strerror(errno));
		return -1;
	}
	return 0;
}

bool
log_enabled(void)
{
	return log_file != NULL;
}

void
log_close(void)
{
	if (log_file)
		fclose(log_file);
	log_file = NULL;
}

/* Append one request line.  headers and body are borrowed (body may be a
 * JSON value or a string). */
void
log_request(const char *method, const char *path, json_object *headers,
			json_object *body)
{
	json_object *line;

	if (log_file == NULL)
		return;
	line = json_object_new_object();
	json_object_object_add(line, "time", json_object_new_int64(now_ms()));
	json_object_object_add(line, "method", json_object_new_string(method));
	json_object_object_add(line, "path", json_string_from_bytes(path, strlen(path)));
	json_object_object_add(line, "headers", json_object_get(headers));
	json_object_object_add(line, "body", json_object_get(body));

	pthread_mutex_lock(&log_mutex);
	fputs(json_text(line), log_file);
	fputc('\n', log_file);
	fflush(log_file);
	pthread_mutex_unlock(&log_mutex);

	json_object_put(line);
}
