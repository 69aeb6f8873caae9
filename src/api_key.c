/*
 * api_key.c
 *		Where a request's API key and attribution defaults come from, and the
 *		per-role key store behind openrouter_configure_client().
 *
 * Order (first that is set wins):
 *	1. openrouter.api_key, set in this session (SET, or connection options);
 *	2. the key the current role stored with openrouter_configure_client();
 *	3. OPENROUTER_API_KEY in the server's environment.
 *
 * Stored keys live in the extension's table openrouter_api_key, which no role
 * but its owner (the superuser who created the extension) may read.  This
 * file reads and writes it on the caller's behalf, as that owner, and only
 * ever the row of the current role (GetUserId(): inside a SECURITY DEFINER
 * function, its owner).  The table is not dumped by pg_dump.  Storing a key
 * also removes the keys of roles that no longer exist, so that a dropped
 * role's key cannot pass to a later role that happens to get its OID.
 *
 * The SQL entry points resolve the key once per statement
 * (or_statement_client_config): the answer is kept for the rest of the
 * statement, for the same role and the same session key, and wiped from
 * memory when the statement or transaction is over, when the role stores a
 * new key, or when anything it depends on changes.
 */
#include "openrouter.h"
#include "as_owner.h"

#include "access/genam.h"
#include "access/xact.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "postmaster/autovacuum.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "storage/proc.h"

#define KEY_TABLE "openrouter_api_key"

PG_FUNCTION_INFO_V1(openrouter_configure_client);
PG_FUNCTION_INFO_V1(openrouter_client);

void
or_wipe_string(char *secret)
{
	if (secret != NULL)
		explicit_bzero(secret, strlen(secret));
}

/* The key table's qualified name and owner. */
static char *
key_table(Oid *owner)
{
	Oid			extension = get_extension_oid("openrouter", false);
	Oid			namespace = InvalidOid;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			relid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extension));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		namespace = ((Form_pg_extension) GETSTRUCT(tuple))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	relid = get_relname_relid(KEY_TABLE, namespace);
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the openrouter extension's key table is missing"),
				 errhint("Reinstall the extension: DROP EXTENSION openrouter; CREATE EXTENSION openrouter;")));
	*owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return quote_qualified_identifier(get_namespace_name(namespace), KEY_TABLE);
}

typedef struct StoredClient
{
	bool		found;
	char	   *api_key;
	char	   *site_url;
	char	   *site_name;
} StoredClient;

/* one statement on the key table, and where its row goes */
typedef struct KeyTableStatement
{
	const char *sql;
	int			nargs;
	Oid		   *types;
	Datum	   *values;
	char	   *nulls;
	MemoryContext caller_context;
	StoredClient stored;
} KeyTableStatement;

static void
execute_key_table_statement(void *arg)
{
	KeyTableStatement *st = (KeyTableStatement *) arg;
	int			rc;

	rc = SPI_execute_with_args(st->sql, st->nargs, st->types, st->values, st->nulls, false, 1);
	if (rc < 0)
		elog(ERROR, "could not access the openrouter key table: %s", SPI_result_code_string(rc));
	if (rc == SPI_OK_SELECT && SPI_processed == 1)
	{
		MemoryContext spi_context = MemoryContextSwitchTo(st->caller_context);

		st->stored.found = true;
		st->stored.api_key = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		st->stored.site_url = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		st->stored.site_name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
		MemoryContextSwitchTo(spi_context);
	}
}

/*
 * Run one statement on the key table as its owner, for the current role.
 * Parameters: $1 role oid, $2 role name, then extra text parameters.  Every
 * operator is schema-qualified: this runs with the owner's rights.
 */
static StoredClient
run_as_key_table_owner(const char *sql_format, int nextra, Datum *extra,
					   const char *extra_nulls)
{
	Oid			role = GetUserId();
	Oid			owner;
	char	   *table = key_table(&owner);
	Oid			types[5] = {OIDOID, NAMEOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	KeyTableStatement st = {0};

	Assert(nextra <= 3);
	values[0] = ObjectIdGetDatum(role);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(GetUserNameFromId(role, false)));
	for (int i = 0; i < nextra; i++)
	{
		values[2 + i] = extra[i];
		nulls[2 + i] = extra_nulls[i];
	}
	st.sql = psprintf(sql_format, table);
	st.nargs = 2 + nextra;
	st.types = types;
	st.values = values;
	st.nulls = nulls;
	st.caller_context = CurrentMemoryContext;
	or_run_as_owner(owner, execute_key_table_statement, &st);
	return st.stored;
}

static StoredClient
stored_client(void)
{
	return run_as_key_table_owner(
		"SELECT api_key, site_url, site_name FROM %s WHERE role_id OPERATOR(pg_catalog.=) $1",
		0, NULL, NULL);
}

/*
 * The key a call uses, in the documented order, and where it came from
 * ("session", "role", "environment"); NULL when none is set.
 */
static const char *
choose_key(const StoredClient *stored, const char **source)
{
	const char *environment_key = getenv("OPENROUTER_API_KEY");

	if (or_session_api_key && or_session_api_key[0] != '\0')
	{
		*source = "session";
		return or_session_api_key;
	}
	if (stored->found)
	{
		*source = "role";
		return stored->api_key;
	}
	if (environment_key && environment_key[0] != '\0')
	{
		*source = "environment";
		return environment_key;
	}
	*source = NULL;
	return NULL;
}

/*
 * The one exception to "no requests under SECURITY_RESTRICTED_OPERATION":
 * the database's background worker computing an asynchronous computed
 * column (async_columns.c).  It runs the column's expression as the table's
 * owner, restricted as maintenance commands are (so the expression cannot
 * change the role), and the owner's key pays: that is the documented rule of
 * async mode, chosen by the owner when the column was made async.  The
 * exception holds only in a background worker, only between
 * or_worker_pays_begin() and or_worker_pays_end(), and only for exactly the
 * role and security context the worker set: a maintenance command run by
 * the expression on another role's object (which switches to that owner)
 * is refused as anywhere else.
 */
static Oid	worker_payer = InvalidOid;
static int	worker_payer_context = 0;

void
or_worker_pays_begin(Oid owner, int sec_context)
{
	if (!IsBackgroundWorker)
		elog(ERROR, "only a background worker may compute asynchronous columns");
	worker_payer = owner;
	worker_payer_context = sec_context;
}

void
or_worker_pays_end(void)
{
	worker_payer = InvalidOid;
	worker_payer_context = 0;
}

static bool
worker_pays_now(void)
{
	Oid			user;
	int			context;

	if (!IsBackgroundWorker || !OidIsValid(worker_payer))
		return false;
	GetUserIdAndSecContext(&user, &context);
	return user == worker_payer && context == worker_payer_context;
}

OrClientConfig
or_resolve_client_config(void)
{
	OrClientConfig config = {0};
	StoredClient stored;
	const char *source;
	const char *key;

	or_restore_refused_settings();

	/*
	 * ANALYZE, VACUUM FULL, CLUSTER, REINDEX, CREATE INDEX, REFRESH
	 * MATERIALIZED VIEW and autovacuum evaluate expressions as the table's
	 * owner, whoever runs them: a request there would make the owner pay for
	 * someone else's command.
	 */
	if ((InSecurityRestrictedOperation() && !worker_pays_now()) || IsAutoVacuumWorkerProcess())
		ereport(ERROR,
				(errcode(MAKE_SQLSTATE('O', 'R', 'K', '0', '2')),
				 errmsg("OpenRouter requests cannot be sent during a maintenance command"),
				 errdetail("Index builds, ANALYZE, VACUUM FULL, CLUSTER, REFRESH MATERIALIZED VIEW and autovacuum run as the table's owner, and a request would be paid with the owner's key."),
				 errhint("Store the answers in a column (openrouter_add_computed_column), and index or materialize that column.")));
	stored = stored_client();
	key = choose_key(&stored, &source);

	if (key != NULL)
		config.api_key = pstrdup(key);
	or_wipe_string(stored.api_key);

	if (config.api_key == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OR_NO_API_KEY),
				 errmsg("no OpenRouter API key is configured for role \"%s\"",
						GetUserNameFromId(GetUserId(), false)),
				 errhint("Store one with SELECT openrouter_configure_client('sk-or-...'), or SET openrouter.api_key in this session, or set OPENROUTER_API_KEY in the database server's environment.")));

	/* headers go out as UTF-8, like the body */
	if (stored.site_url && stored.site_url[0])
		config.site_url = pg_server_to_any(stored.site_url, strlen(stored.site_url), PG_UTF8);
	if (stored.site_name && stored.site_name[0])
		config.site_name = pg_server_to_any(stored.site_name, strlen(stored.site_name), PG_UTF8);
	return config;
}

/* ---------- the key of the current statement ---------- */

typedef struct StatementClient
{
	bool		valid;
	LocalTransactionId lxid;	/* the statement: its transaction ... */
	TimestampTz statement_start;	/* ... and its start */
	Oid			role;
	bool		from_session;	/* the key is openrouter.api_key's value */
	OrClientConfig config;		/* in TopMemoryContext */
} StatementClient;

static StatementClient statement_client;
static bool statement_client_callback_registered = false;

static void
wipe_and_free(char **s)
{
	if (*s != NULL)
	{
		or_wipe_string(*s);
		pfree(*s);
		*s = NULL;
	}
}

void
or_forget_statement_client_config(void)
{
	wipe_and_free(&statement_client.config.api_key);
	wipe_and_free(&statement_client.config.site_url);
	wipe_and_free(&statement_client.config.site_name);
	statement_client.valid = false;
}

static void
forget_at_transaction_end(XactEvent event, void *arg)
{
	or_forget_statement_client_config();
}

static bool
session_key_set(void)
{
	return or_session_api_key != NULL && or_session_api_key[0] != '\0';
}

/* does the kept key still answer for this statement, role and session key? */
static bool
statement_client_current(void)
{
	if (!statement_client.valid ||
		statement_client.lxid != MyProc->lxid ||
		statement_client.statement_start != GetCurrentStatementStartTimestamp() ||
		statement_client.role != GetUserId() ||
		statement_client.from_session != session_key_set())
		return false;
	return !session_key_set() ||
		strcmp(statement_client.config.api_key, or_session_api_key) == 0;
}

/*
 * The key and attribution defaults of the current role, resolved once per
 * statement.  The pointers stay valid until the statement is over: do not
 * free them.
 */
const OrClientConfig *
or_statement_client_config(void)
{
	OrClientConfig resolved;
	MemoryContext old;

	if (statement_client_current())
		return &statement_client.config;

	or_forget_statement_client_config();
	if (!statement_client_callback_registered)
	{
		RegisterXactCallback(forget_at_transaction_end, NULL);
		statement_client_callback_registered = true;
	}
	resolved = or_resolve_client_config();
	old = MemoryContextSwitchTo(TopMemoryContext);
	statement_client.config.api_key = pstrdup(resolved.api_key);
	statement_client.config.site_url = resolved.site_url ? pstrdup(resolved.site_url) : NULL;
	statement_client.config.site_name = resolved.site_name ? pstrdup(resolved.site_name) : NULL;
	MemoryContextSwitchTo(old);
	or_wipe_string(resolved.api_key);

	statement_client.lxid = MyProc->lxid;
	statement_client.statement_start = GetCurrentStatementStartTimestamp();
	statement_client.role = GetUserId();
	statement_client.from_session = session_key_set();
	statement_client.valid = true;
	return &statement_client.config;
}

static void
check_header_safe(const char *name, const char *value, bool allow_spaces)
{
	const char *c = or_header_unsafe_char(value, allow_spaces);

	if (c != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s contains a %s, which cannot go into an HTTP header", name,
						*c == ' ' ? "space" : "control character")));
}

/*
 * openrouter_configure_client(api_key text, site_url text, site_name text)
 * Stores (or, with a NULL key, forgets) the current role's key and defaults.
 */
Datum
openrouter_configure_client(PG_FUNCTION_ARGS)
{
	Datum		extra[3];
	char		nulls[3] = {' ', ' ', ' '};

	or_forget_statement_client_config();
	if (PG_ARGISNULL(0))
	{
		run_as_key_table_owner("DELETE FROM %s WHERE role_id OPERATOR(pg_catalog.=) $1",
							   0, NULL, NULL);
		PG_RETURN_VOID();
	}

	{
		char	   *key = text_to_cstring(PG_GETARG_TEXT_PP(0));

		if (key[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("api_key must not be empty"),
					 errhint("Pass the key from https://openrouter.ai/keys, or NULL to forget the stored key.")));
		check_header_safe("api_key", key, false);
		or_wipe_string(key);
	}
	for (int i = 1; i <= 2; i++)
	{
		if (PG_ARGISNULL(i))
			nulls[i] = 'n';
		else
			check_header_safe(i == 1 ? "site_url" : "site_name",
							  text_to_cstring(PG_GETARG_TEXT_PP(i)), true);
	}
	extra[0] = PG_GETARG_DATUM(0);
	extra[1] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	extra[2] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);

	run_as_key_table_owner("DELETE FROM %s WHERE role_id OPERATOR(pg_catalog.<>) ALL"
						   " (SELECT oid FROM pg_catalog.pg_roles)", 0, NULL, NULL);
	run_as_key_table_owner("INSERT INTO %s AS k (role_id, role_name, api_key, site_url, site_name)"
						   " VALUES ($1, $2, $3, $4, $5)"
						   " ON CONFLICT (role_id) DO UPDATE SET role_name = excluded.role_name,"
						   " api_key = excluded.api_key, site_url = excluded.site_url,"
						   " site_name = excluded.site_name, updated_at = pg_catalog.now()",
						   3, extra, nulls);
	PG_RETURN_VOID();
}

/* the last four characters of a key, for telling keys apart */
static char *
key_hint(const char *key)
{
	size_t		len = strlen(key);

	if (len <= 12)
		return pstrdup("...");
	return psprintf("%.*s...%s", (int) Min(9, len - 8), key, key + len - 4);
}

/*
 * openrouter_client(): which key and defaults a call would use now, without
 * revealing the key.
 */
Datum
openrouter_client(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	StoredClient stored = stored_client();
	const char *source;
	const char *key = choose_key(&stored, &source);

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	values[0] = source ? CStringGetTextDatum(source) : (Datum) 0;
	nulls[0] = (source == NULL);
	values[1] = key ? CStringGetTextDatum(key_hint(key)) : (Datum) 0;
	nulls[1] = (key == NULL);
	or_wipe_string(stored.api_key);

	{
		const char *site_url = (or_site_url && or_site_url[0]) ? or_site_url : stored.site_url;
		const char *site_name = (or_site_name && or_site_name[0]) ? or_site_name : stored.site_name;

		nulls[2] = (site_url == NULL || site_url[0] == '\0');
		values[2] = nulls[2] ? (Datum) 0 : CStringGetTextDatum(site_url);
		nulls[3] = (site_name == NULL || site_name[0] == '\0');
		values[3] = nulls[3] ? (Datum) 0 : CStringGetTextDatum(site_name);
	}
	values[4] = CStringGetTextDatum(or_base_url);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}
