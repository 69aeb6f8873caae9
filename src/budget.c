/*
 * budget.c
 *		What a request may cost and who may spend it.
 *
 * What it owns:
 *	- prices: a model's prices and limits from the models catalog
 *	  (openrouter_model_catalog, kept by models.c), looked up once per session
 *	  and model; a model the (non-empty) catalog does not know gets one NOTICE
 *	  per session;
 *	- a request's worst case: prompt bytes (a token is never less than a
 *	  byte) at the prompt price, plus max_tokens (else the model's own
 *	  max_completion_tokens, else its context length) at the completion
 *	  price, plus the per-request price; the dearest of "model" and "models";
 *	  provider.max_price (USD per million tokens) caps the prices;
 *	- budgets: a role's (openrouter_role_budgets), a computed column's
 *	  (openrouter_column_budgets), both per day or month (UTC) and counted in
 *	  shared memory (shared_state.h) so that every session of a role shares
 *	  them; and the session's own cap, openrouter.max_spend, counted in this
 *	  backend from the moment the setting took its value.
 *
 * How: or_budget_reserve_before_send (send.c, before a batch) looks up what
 * applies and each request's worst case; the scheduler then calls admit()
 * before each request's first attempt, which reserves its worst case under
 * the one LWLock or refuses it (ORC01; ORC02 for an unknown price unless
 * openrouter.budget_allow_unknown_price); on_done calls or_budget_settle,
 * which turns the reservation into the answer's usage.cost.  So the spend of
 * a budget passes its limit only by what requests in flight cost beyond
 * their worst case.
 *
 * Rules kept here: admit() and settle() run inside the scheduler's loop:
 * no SPI, no ERROR, only the lock and arithmetic.  A reservation is released
 * on every path: settled, or released when the (sub)transaction aborts or
 * the backend exits.  A counter created after a restart starts from what the
 * usage ledger shows for its period.
 */
#include "openrouter.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "budget.h"
#include "jsonb_util.h"
#include "shared_state.h"

double		or_max_spend = -1;
bool		or_budget_unknown_price = false;

/* the session's cap: spent and reserved since openrouter.max_spend took its value */
static double session_spent = 0;
static double session_reserved = 0;

/* the computed column being computed */
static OrBudgetColumn current_column = {InvalidOid, NULL};

/* ---------- the session's cap ---------- */

void
or_max_spend_assign(double newval, void *extra)
{
	if (newval != or_max_spend)
		session_spent = 0;
}

OrBudgetColumn
or_budget_swap_column(Oid table, const char *column)
{
	OrBudgetColumn previous = current_column;

	current_column.table = table;
	current_column.column = column;
	return previous;
}

/* ---------- what this backend read, and when it must read again ---------- */

/*
 * What this backend read of the budget tables and the catalog stays true while
 * the generation in shared memory is unchanged (openrouter_budgets_changed(),
 * called by the functions that write them, bumps it once their transaction
 * has committed) and the tables are still there; without shared memory, for
 * one transaction.  cache_epoch numbers the readings: cached items carry the
 * epoch they were read in.
 */
static uint64 cache_epoch = 0;
static uint64 cache_generation = 0;
static LocalTransactionId cache_lxid = InvalidLocalTransactionId;
static Oid	cache_relid = InvalidOid;	/* openrouter_role_budgets */
static Oid	schema_ns = InvalidOid;
static char schema[NAMEDATALEN];
static bool has_budget_tables;	/* 1.1's (a 1.0 database has none) */
static bool bump_at_commit = false;
static bool callbacks_registered = false;

static void register_callbacks(void);

static uint64
generation_now(void)
{
	uint64		generation;

	if (or_shared == NULL)
		return 0;
	LWLockAcquire(or_shared->lock, LW_SHARED);
	generation = or_shared->budget_generation;
	LWLockRelease(or_shared->lock);
	return generation;
}

static bool
reading_still_valid(uint64 generation)
{
	if (cache_lxid == InvalidLocalTransactionId)
		return false;
	if (or_shared == NULL || !has_budget_tables)
		return cache_lxid == MyProc->lxid;
	return generation == cache_generation &&
		get_relname_relid("openrouter_role_budgets", schema_ns) == cache_relid;
}

/* are the catalog and budget tables there?  (read again only when they may have changed) */
static bool
budget_tables(void)
{
	uint64		generation = generation_now();

	if (reading_still_valid(generation))
		return has_budget_tables;

	has_budget_tables = false;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT n.nspname, n.oid, c.oid FROM pg_catalog.pg_extension e"
					" JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace"
					" JOIN pg_catalog.pg_class c ON c.relnamespace OPERATOR(pg_catalog.=) n.oid"
					"  AND c.relname OPERATOR(pg_catalog.=) 'openrouter_role_budgets'"
					" WHERE e.extname OPERATOR(pg_catalog.=) 'openrouter'", true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
	{
		bool		isnull;

		strlcpy(schema, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), sizeof(schema));
		schema_ns = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		cache_relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
		has_budget_tables = true;
	}
	SPI_finish();
	cache_lxid = MyProc->lxid;
	cache_generation = generation;
	cache_epoch++;
	return has_budget_tables;
}

PG_FUNCTION_INFO_V1(openrouter_budgets_changed);

/*
 * openrouter_budgets_changed(): the budgets or the catalog were written; once
 * this transaction commits, every backend reads them again.
 */
Datum
openrouter_budgets_changed(PG_FUNCTION_ARGS)
{
	if (or_shared != NULL)
	{
		register_callbacks();
		bump_at_commit = true;
	}
	PG_RETURN_VOID();
}

static char *
qualified(const char *name)
{
	return quote_qualified_identifier(schema, name);
}

/* ---------- prices ---------- */

typedef struct ModelPrice
{
	char		model[NAMEDATALEN * 2];	/* hash key (truncated names share an entry) */
	uint64		epoch;			/* the reading it comes from */
	bool		warned;			/* the NOTICE of an unknown model was given */
	bool		known;			/* in the catalog */
	bool		priced;			/* prompt and completion prices known */
	double		prompt;
	double		completion;
	double		request;
	double		max_completion;	/* tokens; < 0 unknown */
	double		context;
} ModelPrice;

static HTAB *prices = NULL;
static uint64 empty_catalog_epoch = 0;	/* the reading that found the catalog empty */

static double
float_column(HeapTuple tuple, TupleDesc desc, int n, double if_null)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tuple, desc, n, &isnull);

	return isnull ? if_null : DatumGetFloat8(d);
}

/* a model's prices (NULL when the catalog is empty); warns once of an unknown model */
static ModelPrice *
model_price(const char *model)
{
	ModelPrice *entry;
	bool		found;
	Datum		arg;
	Oid			argtype = TEXTOID;
	HeapTuple	tuple;
	TupleDesc	desc;
	bool		isnull;

	if (prices == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(((ModelPrice *) 0)->model);
		ctl.entrysize = sizeof(ModelPrice);
		prices = hash_create("openrouter model prices", 64, &ctl, HASH_ELEM | HASH_STRINGS);
	}
	entry = hash_search(prices, model, HASH_FIND, NULL);
	if (entry != NULL && entry->epoch == cache_epoch)
		return entry;
	if (empty_catalog_epoch == cache_epoch)
		return NULL;

	arg = CStringGetTextDatum(model);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(psprintf("SELECT c.prompt_price::pg_catalog.float8, c.completion_price::pg_catalog.float8,"
									   " c.request_price::pg_catalog.float8, c.max_completion_tokens::pg_catalog.float8,"
									   " c.context_length::pg_catalog.float8, c.id IS NOT NULL,"
									   " EXISTS (SELECT FROM %s)"
									   " FROM (VALUES (1)) AS d LEFT JOIN %s AS c ON c.id OPERATOR(pg_catalog.=) $1",
									   qualified("openrouter_model_catalog"), qualified("openrouter_model_catalog")),
							  1, &argtype, &arg, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the models catalog");
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	if (!DatumGetBool(SPI_getbinval(tuple, desc, 7, &isnull)))
	{
		SPI_finish();
		empty_catalog_epoch = cache_epoch;	/* an empty catalog knows nothing */
		return NULL;
	}
	entry = hash_search(prices, model, HASH_ENTER, &found);
	if (!found)
		entry->warned = false;
	entry->epoch = cache_epoch;
	entry->known = DatumGetBool(SPI_getbinval(tuple, desc, 6, &isnull));
	entry->prompt = float_column(tuple, desc, 1, -1);
	entry->completion = float_column(tuple, desc, 2, -1);
	entry->request = float_column(tuple, desc, 3, 0);
	entry->max_completion = float_column(tuple, desc, 4, -1);
	entry->context = float_column(tuple, desc, 5, -1);
	entry->priced = entry->known && entry->prompt >= 0 && entry->completion >= 0 && entry->request >= 0;
	SPI_finish();

	if (!entry->known && !entry->warned)
	{
		entry->warned = true;
		ereport(NOTICE,
				(errmsg("model \"%s\" is not in the openrouter models catalog", model),
				 errdetail("OpenRouter will probably answer 404 (no endpoints found)."),
				 errhint("SELECT id FROM openrouter_model_catalog lists the models; openrouter_refresh_models() refreshes it. This is said once per session.")));
	}
	return entry;
}

/* a number of a JSON object, or -1 */
static double
json_number(JsonbContainer *object, const char *key)
{
	JsonbValue *v = object ? jb_object_get(object, key) : NULL;

	if (v == NULL || v->type != jbvNumeric)
		return -1;
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
											  NumericGetDatum(v->val.numeric)));
}

/* a price of provider.max_price: a decimal string (the spec's type) or a number; -1: none */
static double
json_price(JsonbContainer *object, const char *key)
{
	JsonbValue *v = object ? jb_object_get(object, key) : NULL;
	char	   *text;
	char	   *end;
	double		price;

	if (v == NULL || v->type != jbvString)
		return json_number(object, key);
	text = pnstrdup(v->val.string.val, v->val.string.len);
	price = strtod(text, &end);
	return (end != text && *end == '\0' && isfinite(price) && price >= 0) ? price : -1;
}

/* price per token of one model, capped by provider.max_price (USD per million) */
static double
capped(double price, double max_price_per_million)
{
	if (max_price_per_million < 0)
		return price;
	if (price < 0)
		return max_price_per_million / 1e6;
	return Min(price, max_price_per_million / 1e6);
}

/* the worst case of one model for a request; < 0: unknown */
static double
model_worst_case(const char *model, double prompt_tokens, double max_tokens,
				 JsonbContainer *max_price)
{
	ModelPrice *p = model_price(model);
	double		prompt = capped(p && p->known ? p->prompt : -1, json_price(max_price, "prompt"));
	double		completion = capped(p && p->known ? p->completion : -1, json_price(max_price, "completion"));
	double		request = capped(p && p->known ? p->request : 0, json_price(max_price, "request"));
	double		completion_tokens = max_tokens;

	if (completion_tokens < 0 && p != NULL)
		completion_tokens = (p->max_completion > 0) ? p->max_completion : p->context;
	if (prompt < 0 || completion < 0 || request < 0 || completion_tokens < 0)
		return -1;
	return prompt_tokens * prompt + completion_tokens * completion + request;
}

/* a request's worst-case cost in USD; < 0: unknown.  Warns of unknown models. */
static double
worst_case(const OrHttpRequest *request)
{
	Jsonb	   *body;
	JsonbContainer *root;
	double		max_tokens;
	double		worst;
	JsonbValue *models;

	const char *model;

	if (request->body == NULL)
		return 0;				/* a GET: free */
	body = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
											  CStringGetDatum(pnstrdup(request->body, request->body_len))));
	root = &body->root;
	model = request->model ? request->model : jb_object_get_string(root, "model");
	if (model == NULL)
		return -1;				/* OpenRouter's default model: no price */
	max_tokens = json_number(root, "max_tokens");
	if (max_tokens < 0)
		max_tokens = json_number(root, "max_completion_tokens");
	worst = model_worst_case(model, (double) request->body_len, max_tokens,
							 jb_object_get_container(jb_object_get_container(root, "provider"), "max_price"));
	models = jb_object_get(root, "models");
	if (models != NULL && jb_is_array(models))
	{
		ListCell   *lc;

		foreach(lc, jb_array_elements(models->val.binary.data))
		{
			JsonbValue *m = lfirst(lc);
			double		w;

			if (m->type != jbvString || worst < 0)
				continue;
			w = model_worst_case(pnstrdup(m->val.string.val, m->val.string.len),
								 (double) request->body_len, max_tokens,
								 jb_object_get_container(jb_object_get_container(root, "provider"), "max_price"));
			worst = (w < 0) ? -1 : Max(worst, w);
		}
	}
	return worst;
}

/* ---------- budgets in shared memory ---------- */

typedef enum Period
{
	PERIOD_DAY,
	PERIOD_MONTH
} Period;

/* the day (days since 2000-01-01 UTC) or month (year * 12 + month - 1) of now */
static int32
period_now(Period period, TimestampTz *start)
{
	TimestampTz now = GetCurrentTimestamp();
	int32		day = (int32) (now / USECS_PER_DAY) - (now < 0 ? 1 : 0);
	int			year,
				month,
				mday;

	if (period == PERIOD_DAY)
	{
		*start = (TimestampTz) day * USECS_PER_DAY;
		return day;
	}
	j2date(day + POSTGRES_EPOCH_JDATE, &year, &month, &mday);
	*start = (TimestampTz) (date2j(year, month, 1) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY;
	return year * 12 + month - 1;
}

/* one budget that applies to a batch */
typedef struct BudgetLimit
{
	const char *what;			/* for messages: "role alice", "column t.c", "openrouter.max_spend" */
	const char *per;			/* "day", "month", "session" */
	double		usd;
	Period		period;
	OrBudgetCounter *counter;	/* NULL: the session's cap */
} BudgetLimit;

static OrBudgetCounter *
find_counter(Oid role, Oid table, const char *column, bool create)
{
	OrBudgetCounter *unused = NULL;

	for (int i = 0; i < OR_MAX_BUDGET_COUNTERS; i++)
	{
		OrBudgetCounter *c = &or_shared->budget_counters[i];

		if (c->database == MyDatabaseId && c->role == role && c->table == table &&
			strcmp(NameStr(c->column), column) == 0)
			return c;
		if (unused == NULL && c->database == InvalidOid)
			unused = c;
	}
	if (create && unused != NULL)
	{
		memset(unused, 0, sizeof(*unused));
		unused->database = MyDatabaseId;
		unused->role = role;
		unused->table = table;
		namestrcpy(&unused->column, column);
	}
	return create ? unused : NULL;
}

/* what the usage ledger shows as spent since start, for a role or a column */
static double
ledger_spent(Oid role, Oid table, const char *column, TimestampTz start)
{
	Datum		args[3] = {ObjectIdGetDatum(OidIsValid(role) ? role : table),
	CStringGetTextDatum(column), TimestampTzGetDatum(start)};
	Oid			types[3] = {OIDOID, TEXTOID, TIMESTAMPTZOID};
	double		spent;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(psprintf("SELECT pg_catalog.sum(cost)::pg_catalog.float8 FROM %s"
									   " WHERE %s AND finished_at OPERATOR(pg_catalog.>=) $3 AND NOT from_cache",
									   qualified("openrouter_usage"),
									   OidIsValid(role) ? "role::pg_catalog.oid OPERATOR(pg_catalog.=) $1 AND $2 IS NOT NULL"
									   : "table_name::pg_catalog.oid OPERATOR(pg_catalog.=) $1 AND column_name OPERATOR(pg_catalog.=) $2"),
							  3, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the usage ledger");
	spent = float_column(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, 0);
	SPI_finish();
	return spent;
}

/* the shared counter of a budget, created from the ledger when missing */
static OrBudgetCounter *
counter_for(Oid role, Oid table, const char *column, Period period)
{
	OrBudgetCounter *c;
	TimestampTz start;
	int32		current = period_now(period, &start);
	double		spent;

	or_require_shared_state("budgets");
	LWLockAcquire(or_shared->lock, LW_SHARED);
	c = find_counter(role, table, column, false);
	LWLockRelease(or_shared->lock);
	if (c != NULL)
		return c;

	spent = ledger_spent(role, table, column, start);
	LWLockAcquire(or_shared->lock, LW_EXCLUSIVE);
	c = find_counter(role, table, column, false);
	if (c == NULL && (c = find_counter(role, table, column, true)) != NULL)
	{
		c->period = current;
		c->spent = spent;
	}
	LWLockRelease(or_shared->lock);
	if (c == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many openrouter budgets are being counted at once"),
				 errdetail("At most %d role and column budgets are counted in shared memory.", OR_MAX_BUDGET_COUNTERS)));
	return c;
}

/* the stored budgets that apply now, cached for the transaction */
typedef struct StoredLimits
{
	uint64		epoch;			/* the reading it comes from (0: none) */
	Oid			role;
	Oid			table;
	char		column[NAMEDATALEN];
	int			n;
	double		usd[2];
	bool		per_month[2];
	bool		is_column[2];
} StoredLimits;

static StoredLimits stored = {0};

static void
read_stored_limits(void)
{
	Oid			types[3] = {OIDOID, OIDOID, TEXTOID};
	Datum		args[3];
	char		nulls[3] = {' ', ' ', ' '};
	const char *column = current_column.column ? current_column.column : "";

	if (stored.epoch == cache_epoch && stored.role == GetUserId() &&
		stored.table == current_column.table && strcmp(stored.column, column) == 0)
		return;
	args[0] = ObjectIdGetDatum(GetUserId());
	args[1] = ObjectIdGetDatum(current_column.table);
	args[2] = CStringGetTextDatum(column);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(psprintf("SELECT usd::pg_catalog.float8, per OPERATOR(pg_catalog.=) 'month', false FROM %s"
									   " WHERE role_id OPERATOR(pg_catalog.=) $1"
									   " UNION ALL SELECT usd::pg_catalog.float8, per OPERATOR(pg_catalog.=) 'month', true FROM %s"
									   " WHERE table_oid OPERATOR(pg_catalog.=) $2 AND column_name OPERATOR(pg_catalog.=) $3",
									   qualified("openrouter_role_budgets"), qualified("openrouter_column_budgets")),
							  3, types, args, nulls, true, 2) != SPI_OK_SELECT)
		elog(ERROR, "could not read the budgets");
	stored.n = 0;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		bool		isnull;

		stored.usd[stored.n] = float_column(tuple, SPI_tuptable->tupdesc, 1, 0);
		stored.per_month[stored.n] = DatumGetBool(SPI_getbinval(tuple, SPI_tuptable->tupdesc, 2, &isnull));
		stored.is_column[stored.n] = DatumGetBool(SPI_getbinval(tuple, SPI_tuptable->tupdesc, 3, &isnull));
		stored.n++;
	}
	SPI_finish();
	stored.epoch = cache_epoch;
	stored.role = GetUserId();
	stored.table = current_column.table;
	strlcpy(stored.column, column, sizeof(stored.column));
}

/* the role's and the column's budgets (RLS shows a role its own), into limits */
static int
stored_limits(BudgetLimit *limits)
{
	read_stored_limits();
	for (int i = 0; i < stored.n; i++)
	{
		BudgetLimit	   *l = &limits[i];

		l->usd = stored.usd[i];
		l->period = stored.per_month[i] ? PERIOD_MONTH : PERIOD_DAY;
		l->per = stored.per_month[i] ? "month" : "day";
		if (stored.is_column[i])
		{
			l->what = psprintf("computed column %s.%s", get_rel_name(current_column.table), current_column.column);
			l->counter = counter_for(InvalidOid, current_column.table, current_column.column, l->period);
		}
		else
		{
			l->what = psprintf("role %s", GetUserNameFromId(GetUserId(), false));
			l->counter = counter_for(GetUserId(), InvalidOid, "", l->period);
		}
	}
	return stored.n;
}

/* ---------- one batch ---------- */

typedef struct Reservation
{
	const OrExchange *exchange;
	double		worst;			/* < 0: unknown price */
	double		amount;			/* reserved (with reserved set) */
	bool		reserved;
	bool		settled;
} Reservation;

typedef struct Batch
{
	struct Batch *next;			/* active batches of this backend */
	int			nlimits;
	BudgetLimit		limits[3];
	int			count;
	int			settled;
	int			next_admit;		/* exchanges are admitted in order: where to look first */
	int			next_settle;	/* and mostly finish in order */
	double		in_flight;		/* USD this batch has reserved for requests in flight */
	Reservation *reservations;
	MemoryContext context;
} Batch;

static Batch *active = NULL;

/* a sum of reservations after one is released: rounding never leaves dust */
static double
released(double reserved, double amount)
{
	double		left = reserved + amount;

	return (left < 1e-12) ? 0 : left;
}

/* the reservation (or release, with negative amount) on every limit; caller holds the lock */
static void
add_reserved(Batch *b, double amount, double spent)
{
	for (int i = 0; i < b->nlimits; i++)
	{
		OrBudgetCounter *c = b->limits[i].counter;

		if (c == NULL)
		{
			session_reserved = released(session_reserved, amount);
			session_spent += spent;
		}
		else
		{
			c->reserved = released(c->reserved, amount);
			c->spent += spent;
		}
	}
}

static void
finish_batch(Batch *b)
{
	Batch	  **p = &active;

	while (*p != NULL && *p != b)
		p = &(*p)->next;
	if (*p == b)
		*p = b->next;
	MemoryContextDelete(b->context);
}

/* every reservation still held by this backend goes back (abort, exit) */
static void
release_all(void)
{
	while (active != NULL)
	{
		Batch	   *b = active;
		bool		shared = false;

		for (int i = 0; i < b->nlimits; i++)
			shared |= (b->limits[i].counter != NULL);
		if (shared)
			LWLockAcquire(or_shared->lock, LW_EXCLUSIVE);
		for (int i = 0; i < b->count; i++)
			if (b->reservations[i].reserved && !b->reservations[i].settled)
				add_reserved(b, -b->reservations[i].amount, 0);
		if (shared)
			LWLockRelease(or_shared->lock);
		finish_batch(b);
	}
}

static void
on_xact(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		release_all();
	if (event == XACT_EVENT_COMMIT && bump_at_commit)
	{
		/* after the commit is visible: whoever sees the new generation sees the rows */
		LWLockAcquire(or_shared->lock, LW_EXCLUSIVE);
		or_shared->budget_generation++;
		LWLockRelease(or_shared->lock);
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		bump_at_commit = false;
}

static void
on_subxact(SubXactEvent event, SubTransactionId sub, SubTransactionId parent, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		release_all();
}

static void
on_exit_release(int code, Datum arg)
{
	if (or_shared != NULL && active != NULL)
		release_all();
}

static void
register_callbacks(void)
{
	if (callbacks_registered)
		return;
	RegisterXactCallback(on_xact, NULL);
	RegisterSubXactCallback(on_subxact, NULL);
	before_shmem_exit(on_exit_release, 0);
	callbacks_registered = true;
}

static OrFailure *
refusal(const BudgetLimit *l, double worst, double available)
{
	OrFailure  *f = or_failure_new(ERRCODE_OR_BUDGET_EXCEEDED, "budget_exceeded", true,
								   "request not sent: it could cost up to %.6f USD, more than what is left of the budget of %s",
								   worst, l->what);

	or_failure_add_detail(f, "The budget is %.6f USD per %s; %.6f USD of it is left, counting requests in flight.",
						  l->usd, l->per, Max(0, available));
	f->hint = pstrdup(l->counter == NULL
					  ? _("Raise or reset openrouter.max_spend, or lower max_tokens.")
					  : _("Wait for the next period, lower max_tokens, or ask a superuser to raise the budget (openrouter_set_budget, openrouter_set_column_budget)."));
	return f;
}

/* the scheduler's admit callback: reserve the worst case, or refuse */
static OrFailure *
admit(OrExchange *exchange, void *arg, bool *later)
{
	Batch	   *b = arg;
	Reservation *r = NULL;
	OrFailure  *refused = NULL;
	bool		shared = false;
	double		worst;

	for (int i = 0; i < b->count && r == NULL; i++)
	{
		Reservation *candidate = &b->reservations[(b->next_admit + i) % b->count];

		if (candidate->exchange == exchange)
			r = candidate;
	}
	if (r == NULL)
		return NULL;
	b->next_admit = (int) (r - b->reservations) + 1;
	worst = r->worst;
	if (worst < 0)
	{
		if (!or_budget_unknown_price)
		{
			OrFailure  *f = or_failure_new(ERRCODE_OR_PRICE_UNKNOWN, "price_unknown", false,
										   "request not sent: the price of model \"%s\" is not known, and a budget applies",
										   exchange->request.model ? exchange->request.model : "(none)");

			or_failure_add_detail(f, "The budget of %s needs a worst-case cost, from the models catalog (and max_tokens or the model's own limit).",
								  b->limits[0].what);
			f->hint = pstrdup(_("Refresh the catalog (openrouter_refresh_models()), name a model it prices, give provider.max_price, or have a superuser set openrouter.budget_allow_unknown_price."));
			return f;
		}
		worst = 0;
	}

	for (int i = 0; i < b->nlimits; i++)
		shared |= (b->limits[i].counter != NULL);
	if (shared)
		LWLockAcquire(or_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < b->nlimits && refused == NULL; i++)
	{
		BudgetLimit	   *l = &b->limits[i];
		double		available;

		if (l->counter == NULL)
			available = l->usd - session_spent - session_reserved;
		else
		{
			TimestampTz start;
			int32		current = period_now(l->period, &start);

			if (l->counter->period != current)
			{
				l->counter->period = current;
				l->counter->spent = 0;
			}
			available = l->usd - l->counter->spent - l->counter->reserved;
		}
		if (worst > available || available <= 0)
		{
			/* it would fit once this batch's own requests in flight are done: wait for them */
			if (b->in_flight > 0 && worst <= available + b->in_flight && available + b->in_flight > 0)
				*later = true;
			else
				refused = refusal(l, worst, available);
			break;
		}
	}
	if (refused == NULL && !*later)
	{
		add_reserved(b, worst, 0);
		b->in_flight += worst;
		r->reserved = true;
		r->amount = worst;
	}
	if (shared)
		LWLockRelease(or_shared->lock);
	return refused;
}

/* usage.cost of an answer (or of a failure that carried one); < 0: none */
static double
real_cost(const OrExchange *exchange)
{
	Jsonb	   *response = exchange->failure ? exchange->failure->response : exchange->result;

	if (response == NULL || !JB_ROOT_IS_OBJECT(response))
		return -1;
	return json_number(jb_object_get_container(&response->root, "usage"), "cost");
}

void
or_budget_settle(void *budget, const OrExchange *exchange)
{
	Batch	   *b = budget;
	bool		shared = false;

	if (b == NULL)
		return;
	for (int n = 0; n < b->count; n++)
	{
		Reservation *r = &b->reservations[(b->next_settle + n) % b->count];
		double		cost;

		if (r->exchange != exchange || r->settled)
			continue;
		b->next_settle = (int) (r - b->reservations) + 1;
		r->settled = true;
		b->settled++;
		if (r->reserved)
		{
			cost = real_cost(exchange);
			if (cost < 0)		/* an answer without usage.cost: count the worst case */
				cost = (exchange->result != NULL) ? r->amount : 0;
			for (int j = 0; j < b->nlimits; j++)
				shared |= (b->limits[j].counter != NULL);
			if (shared)
				LWLockAcquire(or_shared->lock, LW_EXCLUSIVE);
			add_reserved(b, -r->amount, cost);
			b->in_flight = released(b->in_flight, -r->amount);
			if (shared)
				LWLockRelease(or_shared->lock);
		}
		break;
	}
	if (b->settled == b->count)
		finish_batch(b);
}

void *
or_budget_reserve_before_send(OrExchange **exchanges, int count, OrSchedule *schedule)
{
	BudgetLimit		limits[3];
	int			nlimits = 0;
	Batch	   *b;
	MemoryContext context;
	MemoryContext old;

	if (count == 0 || !budget_tables())
		return NULL;

	if (or_max_spend >= 0)
	{
		limits[0].what = "this session (openrouter.max_spend)";
		limits[0].per = "session";
		limits[0].usd = or_max_spend;
		limits[0].period = PERIOD_DAY;
		limits[0].counter = NULL;
		nlimits = 1;
	}
	nlimits += stored_limits(limits + nlimits);

	if (nlimits == 0)
	{
		/* no budget: only the once-per-session word about unknown models */
		for (int i = 0; i < count; i++)
			if (exchanges[i]->request.model != NULL && exchanges[i]->request.body != NULL)
				(void) model_price(exchanges[i]->request.model);
		return NULL;
	}

	register_callbacks();
	context = AllocSetContextCreate(TopMemoryContext, "openrouter budget", ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(context);
	b = palloc0(sizeof(Batch));
	b->context = context;
	b->nlimits = nlimits;
	for (int i = 0; i < nlimits; i++)
	{
		b->limits[i] = limits[i];
		b->limits[i].what = pstrdup(limits[i].what);
		b->limits[i].per = pstrdup(limits[i].per);
	}
	b->count = count;
	b->reservations = palloc0(count * sizeof(Reservation));
	MemoryContextSwitchTo(old);
	b->next = active;
	active = b;
	for (int i = 0; i < count; i++)
	{
		b->reservations[i].exchange = exchanges[i];
		b->reservations[i].worst = worst_case(&exchanges[i]->request);
	}

	schedule->admit = admit;
	schedule->admit_arg = b;
	return b;
}

/* ---------- what is counted ---------- */

PG_FUNCTION_INFO_V1(openrouter_budget_counters);

/*
 * openrouter_budget_counters() RETURNS TABLE (role_id oid, table_oid oid,
 * column_name name, day_or_month int, spent float8, in_flight float8): this
 * database's counters in shared memory (a role's own, and every column's;
 * superusers see all).  Nothing without shared_preload_libraries.
 */
Datum
openrouter_budget_counters(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		all = superuser();

	InitMaterializedSRF(fcinfo, 0);
	if (or_shared == NULL)
		return (Datum) 0;
	LWLockAcquire(or_shared->lock, LW_SHARED);
	for (int i = 0; i < OR_MAX_BUDGET_COUNTERS; i++)
	{
		OrBudgetCounter *c = &or_shared->budget_counters[i];
		Datum		values[6];
		bool		nulls[6] = {false};

		if (c->database != MyDatabaseId ||
			(OidIsValid(c->role) && c->role != GetUserId() && !all))
			continue;
		values[0] = ObjectIdGetDatum(c->role);
		nulls[0] = !OidIsValid(c->role);
		values[1] = ObjectIdGetDatum(c->table);
		nulls[1] = !OidIsValid(c->table);
		values[2] = NameGetDatum(&c->column);
		nulls[2] = !OidIsValid(c->table);
		values[3] = Int32GetDatum(c->period);
		values[4] = Float8GetDatum(c->spent);
		values[5] = Float8GetDatum(c->reserved);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LWLockRelease(or_shared->lock);
	return (Datum) 0;
}
