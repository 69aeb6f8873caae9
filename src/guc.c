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
 *
 * The superuser-only settings keep the administrator's value when a role
 * that may not set them tries to at connection time (PGOPTIONS="-c
 * openrouter.proxy=") before the library is loaded: PostgreSQL then keeps
 * the role's value in a placeholder that replaces the administrator's, and
 * refuses it, with a WARNING, only when the library defines the setting,
 * which would leave the built-in default in force.  See
 * restore_administrator_values().
 *
 * openrouter.on_error is the default of calls that pass no on_error.  A
 * database whose extension is still at 1.0's SQL (updated library, no ALTER
 * EXTENSION UPDATE yet) gets 1.0's meaning, an override of every call, which
 * its PL/pgSQL computed columns rely on: or_on_error_overrides().
 */
#include "openrouter.h"
#include "ledger.h"
#include "response_cache.h"
#include "budget.h"
#include "models.h"

#include <limits.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_db_role_setting.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

char	   *or_base_url = NULL;
char	   *or_session_api_key = NULL;
char	   *or_site_url = NULL;
char	   *or_site_name = NULL;
char	   *or_ca_file = NULL;
char	   *or_proxy = NULL;
char	   *or_default_model = NULL;
char	   *or_default_embedding_model = NULL;
char	   *or_default_rerank_model = NULL;
int			or_timeout_ms = 120000;
int			or_connect_timeout_ms = 10000;
int			or_max_retries = 3;
int			or_max_retry_wait_ms = 60000;
int			or_max_response_kb = 64 * 1024;
int			or_request_cache_kb = 4 * 1024;
int			or_max_concurrency = 32;
int			or_requests_per_minute = 0;
bool		or_concurrent_calls = true;
int			or_on_error_setting = -1;
bool		or_computing = false;

static const struct config_enum_entry cache_options[] = {
	{"on", OR_RESPONSE_CACHE_ON, false},
	{"off", OR_RESPONSE_CACHE_OFF, false},
	{"refresh", OR_RESPONSE_CACHE_REFRESH, false},
	{"true", OR_RESPONSE_CACHE_ON, true},
	{"false", OR_RESPONSE_CACHE_OFF, true},
	{"1", OR_RESPONSE_CACHE_ON, true},
	{"0", OR_RESPONSE_CACHE_OFF, true},
	{NULL, 0, false}
};

/* openrouter.cache: remember whether the value is the built-in default */
static bool
check_cache_mode(int *newval, void **extra, GucSource source)
{
	bool	   *explicit_value = malloc(sizeof(bool));

	if (explicit_value == NULL)
		return false;
	*explicit_value = (source > PGC_S_DEFAULT);
	*extra = explicit_value;
	return true;
}

static void
assign_cache_mode(int newval, void *extra)
{
	or_response_cache_mode_explicit = *(bool *) extra;
}

static const struct config_enum_entry on_error_options[] = {
	{"", -1, false},
	{"abort", OR_ON_ERROR_ABORT, false},
	{"ignore", OR_ON_ERROR_IGNORE, false},
	{NULL, 0, false}
};

/*
 * Does openrouter.on_error override explicit on_error arguments?  Only while
 * the installed extension is 1.0 (checked once per transaction).
 */
bool
or_on_error_overrides(void)
{
	static LocalTransactionId checked_in = InvalidLocalTransactionId;
	static bool overrides = false;
	Oid			extension;

	if (or_on_error_setting < 0)
		return false;
	if (checked_in == MyProc->lxid)
		return overrides;
	overrides = false;
	extension = get_extension_oid("openrouter", true);
	if (OidIsValid(extension))
	{
		Relation	rel = table_open(ExtensionRelationId, AccessShareLock);
		ScanKeyData key;
		SysScanDesc scan;
		HeapTuple	tuple;

		ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(extension));
		scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
		tuple = systable_getnext(scan);
		if (HeapTupleIsValid(tuple))
		{
			bool		isnull;
			Datum		version = heap_getattr(tuple, Anum_pg_extension_extversion,
											   RelationGetDescr(rel), &isnull);

			overrides = !isnull && strcmp(TextDatumGetCString(version), "1.0") == 0;
		}
		systable_endscan(scan);
		table_close(rel, AccessShareLock);
	}
	checked_in = MyProc->lxid;
	return overrides;
}

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

/* settings only a superuser may set: where requests go and how securely */
static const char *const administrator_settings[] = {
	"openrouter.base_url", "openrouter.ca_file", "openrouter.proxy"
};

#define N_ADMINISTRATOR_SETTINGS ((int) lengthof(administrator_settings))

/* a value given before the library loaded may have been refused */
static bool administrator_value_refused = false;

/* the value the configuration files give a setting, or NULL */
static char *
configuration_file_value(const char *name)
{
	ConfigVariable *head = NULL;
	ConfigVariable *tail = NULL;
	char	   *value = NULL;

	if (ConfigFileName != NULL)
		(void) ParseConfigFile(ConfigFileName, false, NULL, 0, 0, LOG, &head, &tail);
	if (DataDir != NULL)
		(void) ParseConfigFile(PG_AUTOCONF_FILENAME, false, NULL, 0, 0, LOG, &head, &tail);
	for (ConfigVariable *item = head; item != NULL; item = item->next)
	{
		/* the last occurrence wins, as when the server reads the files */
		if (item->value != NULL && pg_strcasecmp(item->name, name) == 0)
		{
			if (value != NULL)
				pfree(value);
			value = pstrdup(item->value);
		}
	}
	FreeConfigVariables(head);
	return value;
}

/*
 * Apply again what the administrator set for the refused settings: the
 * configuration files, then ALTER ROLE / ALTER DATABASE SET (whose sources
 * outrank the files, as at connection time).  Needs a transaction, for the
 * catalog.
 */
static void
restore_administrator_values(void)
{
	Relation	settings;
	Snapshot	snapshot;
	Oid			role = GetSessionUserId();

	administrator_value_refused = false;
	for (int i = 0; i < N_ADMINISTRATOR_SETTINGS; i++)
	{
		char	   *value = configuration_file_value(administrator_settings[i]);

		if (value != NULL)
			(void) set_config_option(administrator_settings[i], value, PGC_SIGHUP,
									 PGC_S_FILE, GUC_ACTION_SET, true, 0, false);
	}
	if (!OidIsValid(MyDatabaseId))
		return;
	settings = table_open(DbRoleSettingRelationId, AccessShareLock);
	snapshot = RegisterSnapshot(GetCatalogSnapshot(DbRoleSettingRelationId));
	ApplySetting(snapshot, MyDatabaseId, role, settings, PGC_S_DATABASE_USER);
	ApplySetting(snapshot, InvalidOid, role, settings, PGC_S_USER);
	ApplySetting(snapshot, MyDatabaseId, InvalidOid, settings, PGC_S_DATABASE);
	ApplySetting(snapshot, InvalidOid, InvalidOid, settings, PGC_S_GLOBAL);
	UnregisterSnapshot(snapshot);
	table_close(settings, AccessShareLock);
}

/*
 * Before any request: if a connection-time value of a superuser-only
 * setting was refused when the library was loaded outside a transaction
 * (session_preload_libraries), restore the administrator's values now.
 */
void
or_restore_refused_settings(void)
{
	if (administrator_value_refused)
		restore_administrator_values();
}

void
or_define_gucs(void)
{
	/*
	 * A value given before the library was loaded may be refused when the
	 * setting is defined below, and a refused value may equal the built-in
	 * default, so any such value calls for the administrator's values to be
	 * applied again (which changes nothing where none was refused).
	 */
	for (int i = 0; i < N_ADMINISTRATOR_SETTINGS; i++)
	{
		if (GetConfigOption(administrator_settings[i], true, false) != NULL)
			administrator_value_refused = true;
	}

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

	/* the models of the AI functions when a call names none (ai_call.c) */
	DefineCustomStringVariable("openrouter.default_model",
							   "Chat model of openrouter_generate, openrouter_if, openrouter_classify and openrouter_agg when a call names none.",
							   NULL, &or_default_model, "", PGC_USERSET, 0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("openrouter.default_embedding_model",
							   "Embedding model of openrouter_embed when a call names none.",
							   NULL, &or_default_embedding_model, "", PGC_USERSET, 0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("openrouter.default_rerank_model",
							   "Rerank model of openrouter_rerank when a call names none.",
							   NULL, &or_default_rerank_model, "", PGC_USERSET, 0,
							   NULL, NULL, NULL);

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
							"Applies to openrouter_chat_batch(), computed columns, openrouter_prefetch() and plain SQL (openrouter.concurrent_calls: the rows read ahead too); a 429 answer halves it for the rest of the batch, and successes grow it back. For the background workers, the most requests in flight for all of them together. At most 256: over HTTP/1.1 each request in flight holds a socket, counted in the backend's file budget.",
							&or_max_concurrency,
							32, 1, 256,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("openrouter.concurrent_calls",
							 "Makes plain SQL statements keep many calls' requests in flight.",
							 "The planner adds a plan node that reads a window of openrouter.max_concurrency rows ahead and sends their requests together (see EXPLAIN); off: one request at a time.",
							 &or_concurrent_calls,
							 true,
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
							 "The on_error of calls that pass none (empty: 'abort').",
							 "An explicit on_error argument always wins; inside a computed column, the column's on_error is the default.",
							 &or_on_error_setting,
							 -1, on_error_options,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);

	/*
	 * Only read by the PL/pgSQL of the 1.0 install script (a database not yet
	 * updated to 1.1 keeps working with this library); 1.1 ignores it.
	 */
	DefineCustomBoolVariable("openrouter.computing",
							 "Obsolete since 1.1, ignored.",
							 NULL,
							 &or_computing,
							 false,
							 PGC_USERSET,
							 GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE | GUC_NO_RESET_ALL | GUC_DISALLOW_IN_FILE,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("openrouter.usage_ledger",
							 "Records every request in the usage ledger (openrouter_usage).",
							 "Needs the library in shared_preload_libraries; server-wide, so that no role can hide its own spending.",
							 &or_usage_ledger,
							 true,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("openrouter.usage_retention",
							"How long the usage ledger keeps a record (0: forever).",
							"The background worker removes older records once an hour.",
							&or_usage_retention_days,
							90, 0, 100000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomEnumVariable("openrouter.cache",
							 "Answers identical requests from the response cache: on, off, or refresh (send again and replace the cached answer).",
							 "Needs the library in shared_preload_libraries; without it the built-in default is inert and a value set on purpose is an error.",
							 &or_response_cache_mode,
							 OR_RESPONSE_CACHE_ON, cache_options,
							 PGC_USERSET, 0,
							 check_cache_mode, assign_cache_mode, NULL);

	DefineCustomIntVariable("openrouter.cache_max_age",
							"How long the response cache keeps an answer (0: no limit).",
							"Older answers are not used; the background worker removes them once an hour.",
							&or_response_cache_max_age,
							30 * 24 * 60, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MIN,
							NULL, NULL, NULL);

	DefineCustomIntVariable("openrouter.cache_max_size",
							"How much the response cache may hold, per database (0: no limit).",
							"Past it the background worker removes the oldest answers, once an hour.",
							&or_response_cache_max_size,
							1024, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MB,
							NULL, NULL, NULL);

	DefineCustomRealVariable("openrouter.max_spend",
							 "The most this session may spend, in USD, from the moment the setting takes its value (-1: no cap).",
							 "Only lowers: role and computed column budgets still apply. SET LOCAL or a function's SET clause caps a transaction or a call.",
							 &or_max_spend,
							 -1, -1, 1e9,
							 PGC_USERSET, 0,
							 NULL, or_max_spend_assign, NULL);

	DefineCustomBoolVariable("openrouter.budget_allow_unknown_price",
							 "Sends requests whose price is unknown under a budget (counted at their real cost afterwards).",
							 NULL,
							 &or_budget_unknown_price,
							 false,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("openrouter.models_refresh_interval",
							"How often the background worker refreshes the models catalog (0: never).",
							"An empty catalog is refreshed at once.",
							&or_models_refresh_minutes,
							1440, 0, 525600,
							PGC_SIGHUP, GUC_UNIT_MIN,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("openrouter");

	if (administrator_value_refused && IsTransactionState())
		restore_administrator_values();
}
