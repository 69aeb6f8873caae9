/*
 * guc.c
 *		The extension's settings (openrouter.*).
 *
 * Settings that decide where a request goes or how securely (base URL, proxy,
 * CA file) are PGC_SUSET: otherwise any role could send the server's API key
 * to a host of its choosing.  openrouter.api_key is a secret: it is hidden
 * from SHOW and pg_settings, and it is refused from every place where other
 * roles could read it (ALTER ROLE/DATABASE SET, function SET clauses,
 * postgresql.conf): only a session's own SET or connection options may
 * carry it.
 */
#include "openrouter.h"

#include <limits.h>

#include "utils/guc.h"

char	   *or_base_url = NULL;
char	   *or_session_api_key = NULL;
char	   *or_site_url = NULL;
char	   *or_site_name = NULL;
char	   *or_ca_file = NULL;
char	   *or_proxy = NULL;
int			or_timeout_ms = 120000;
int			or_connect_timeout_ms = 10000;
int			or_max_retries = 3;
int			or_max_retry_wait_ms = 60000;
int			or_max_response_kb = 64 * 1024;
int			or_request_cache_kb = 4 * 1024;
int			or_max_concurrency = 32;
int			or_requests_per_minute = 0;
int			or_on_error_setting = -1;
bool		or_computing = false;

static const struct config_enum_entry on_error_options[] = {
	{"", -1, false},
	{"abort", OR_ON_ERROR_ABORT, false},
	{"ignore", OR_ON_ERROR_IGNORE, false},
	{NULL, 0, false}
};

/*
 * A key may only come from the session itself.  PGC_S_TEST is what
 * ALTER ROLE/DATABASE SET and CREATE FUNCTION ... SET use to validate a value
 * they are about to store in a catalog that every role can read.
 */
static bool
check_api_key(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (source == PGC_S_SESSION || source == PGC_S_CLIENT ||
		source == PGC_S_OVERRIDE)
		return true;

	GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
	GUC_check_errmsg("openrouter.api_key may only be set with SET in the session that uses it");
	GUC_check_errdetail("Values stored by ALTER ROLE, ALTER DATABASE, CREATE FUNCTION ... SET or the server's configuration files are readable by other roles.");
	GUC_check_errhint("Store the key with SELECT openrouter_configure_client('sk-or-...'), which only the role itself can use.");
	return false;
}

/* The base URL must be an http(s) URL: it is where the key is sent. */
static bool
check_base_url(char **newval, void **extra, GucSource source)
{
	const char *url = *newval;

	if (url == NULL ||
		(strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0))
	{
		GUC_check_errdetail("openrouter.base_url must start with https:// or http://.");
		return false;
	}
	return true;
}

static bool
check_header_value(char **newval, void **extra, GucSource source)
{
	if (or_header_unsafe_char(*newval, true) != NULL)
	{
		GUC_check_errdetail("The value contains a control character, which cannot go into an HTTP header.");
		return false;
	}
	return true;
}

void
or_define_gucs(void)
{
	DefineCustomStringVariable("openrouter.base_url",
							   "Base URL of the OpenRouter API.",
							   "Requests go to {base_url}/chat/completions with the API key attached.",
							   &or_base_url,
							   "https://openrouter.ai/api/v1",
							   PGC_SUSET, 0,
							   check_base_url, NULL, NULL);

	DefineCustomStringVariable("openrouter.api_key",
							   "OpenRouter API key for this session.",
							   "Takes precedence over the key stored with openrouter_configure_client() and over OPENROUTER_API_KEY in the server's environment.",
							   &or_session_api_key,
							   "",
							   PGC_USERSET,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE |
							   GUC_DISALLOW_IN_FILE | GUC_DISALLOW_IN_AUTO_FILE,
							   check_api_key, NULL, NULL);

	DefineCustomStringVariable("openrouter.site_url",
							   "Default site URL sent as HTTP-Referer for OpenRouter's app attribution.",
							   NULL,
							   &or_site_url,
							   "",
							   PGC_USERSET, 0,
							   check_header_value, NULL, NULL);

	DefineCustomStringVariable("openrouter.site_name",
							   "Default site name sent as X-OpenRouter-Title and X-Title for OpenRouter's app attribution.",
							   NULL,
							   &or_site_name,
							   "",
							   PGC_USERSET, 0,
							   check_header_value, NULL, NULL);

	DefineCustomStringVariable("openrouter.ca_file",
							   "File of CA certificates used to verify the server (empty: the system's).",
							   NULL,
							   &or_ca_file,
							   "",
							   PGC_SUSET, 0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("openrouter.proxy",
							   "Proxy for requests to OpenRouter (empty: the server's environment decides).",
							   NULL,
							   &or_proxy,
							   "",
							   PGC_SUSET, 0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("openrouter.timeout",
							"Time limit of one attempt of one request.",
							"Retries get a fresh limit; statement_timeout bounds the whole statement.",
							&or_timeout_ms,
							120000, 1, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("openrouter.connect_timeout",
							"Time limit for opening a connection to OpenRouter.",
							NULL,
							&or_connect_timeout_ms,
							10000, 1, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("openrouter.max_retries",
							"How many times a request that failed for a transient reason is tried again.",
							"Applies to HTTP 408, 429, 500, 502, 503, 504, 524, 529 and to transport failures.",
							&or_max_retries,
							3, 0, 100,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("openrouter.max_retry_wait",
							"Longest wait before one retry.",
							"When the service asks for a longer wait (Retry-After, X-RateLimit-Reset), the request fails at once instead.",
							&or_max_retry_wait_ms,
							60000, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("openrouter.max_response_size",
							"Largest response body accepted.",
							NULL,
							&or_max_response_kb,
							64 * 1024, 1, 512 * 1024,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("openrouter.request_cache_size",
							"Memory for the answers a transaction keeps to reuse for identical requests.",
							"Past it the oldest answers are forgotten; the answers of the latest openrouter_prefetch are kept until the next one.",
							&or_request_cache_kb,
							4 * 1024, 0, MAX_KILOBYTES,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("openrouter.max_concurrency",
							"Most requests one statement keeps in flight at once.",
							"Applies to openrouter_chat_batch(), computed columns and openrouter_prefetch(); a 429 answer halves it for the rest of the batch, and successes grow it back. At most 256: over HTTP/1.1 each request in flight holds a socket, counted in the backend's file budget.",
							&or_max_concurrency,
							32, 1, 256,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("openrouter.requests_per_minute",
							"Most requests this session starts per minute (0: no limit).",
							"Starts are spaced evenly: 600 means one every 100 ms.",
							&or_requests_per_minute,
							0, 0, 1000000,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomEnumVariable("openrouter.on_error",
							 "Overrides the on_error argument of every call (empty: the argument decides).",
							 "The computed-column functions set it to the column's on_error while they compute.",
							 &or_on_error_setting,
							 -1, on_error_options,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("openrouter.computing",
							 "Set while the computed-column functions write answers (internal).",
							 "The computed columns' UPDATE triggers leave those UPDATEs alone.",
							 &or_computing,
							 false,
							 PGC_USERSET, GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							 NULL, NULL, NULL);

	MarkGUCPrefixReserved("openrouter");
}
