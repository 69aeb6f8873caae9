/*
 * ai_agg.c
 *		openrouter_agg(input text, task text [, model text]): one answer to a
 *		task over many rows (an aggregate).
 *
 * The rows (NULLs skipped, in the aggregate's order) are collected, and the
 * final function asks the model once, with every row in one request.  When
 * the model's context window cannot hold them, OpenRouter answers 400 "This
 * endpoint's maximum context length is N tokens. However, you requested
 * about M tokens ..."; from N, M and the size of what was sent the function
 * learns how many characters a request may carry (half the window, leaving
 * room for the instructions and the answer) and reduces in rounds: map (the
 * rows in consecutive groups that fit, one request per group, sent together
 * through or_send), then combine (the partial answers, grouped the same way)
 * until one answer is left.  Costs: one request when everything fits;
 * otherwise the refused one, then one per group of rows, then one per group
 * of partial answers in each further round.  A request refused again (the
 * estimate was off) halves the budget and repeats the round; a single row
 * larger than the budget, or partial answers that do not get fewer, is
 * ORA03.  Requests go through or_call() (ai_call.c): collected by
 * openrouter_prefetch, cached for the transaction, recorded in the ledger.
 * Failures follow the context's on_error (openrouter.on_error, a computed
 * column's), 'ignore' giving NULL.
 */
#include "openrouter.h"

#include "fmgr.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "ai.h"
#include "request.h"

PG_FUNCTION_INFO_V1(openrouter_agg_step);
PG_FUNCTION_INFO_V1(openrouter_agg_final);

#define SINGLE_SYSTEM "You are given a task and a list of items separated by lines of ---. Do the task over all the items."
#define MAP_SYSTEM "You are given a task and part %d of %d of a list of items separated by lines of ---. Do the task over the items of this part only; your answer will be combined with the answers for the other parts."
#define COMBINE_SYSTEM "You are given a task and answers to it, each over a different part of a list of items, separated by lines of ---. Combine them into one answer to the task over all the items."
#define SEPARATOR "\n---\n"
#define MAX_ROUNDS 32

typedef struct AggState
{
	char	   *task;
	text	   *model;			/* or NULL: openrouter.default_model */
	List	   *items;			/* char *, in order */
} AggState;

/* openrouter_agg_step(state internal, input text, task text [, model text]) */
Datum
openrouter_agg_step(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	MemoryContext old;
	AggState   *state = PG_ARGISNULL(0) ? NULL : (AggState *) PG_GETARG_POINTER(0);
	char	   *task;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "openrouter_agg_step called in a non-aggregate context");
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the task of openrouter_agg must not be null"),
				 errhint("Say what to do with the rows, such as 'Summarise these reviews in one sentence.'")));
	task = text_to_cstring(PG_GETARG_TEXT_PP(2));

	old = MemoryContextSwitchTo(aggcontext);
	if (state == NULL)
	{
		state = palloc0(sizeof(AggState));
		state->task = pstrdup(task);
		if (PG_NARGS() > 3 && !PG_ARGISNULL(3))
			state->model = DatumGetTextPCopy(PG_GETARG_DATUM(3));
	}
	else if (strcmp(state->task, task) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the task of openrouter_agg must be the same for every row")));
	if (!PG_ARGISNULL(1))
		state->items = lappend(state->items, text_to_cstring(PG_GETARG_TEXT_PP(1)));
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(state);
}

/* groups of consecutive items of at most budget characters (List of List) */
static List *
pack(List *items, int budget, bool combining)
{
	List	   *groups = NIL;
	List	   *group = NIL;
	int			size = 0;
	ListCell   *lc;

	foreach(lc, items)
	{
		char	   *item = lfirst(lc);
		int			len = strlen(item) + strlen(SEPARATOR);

		if (budget > 0 && len > budget)
			ereport(ERROR,
					(errcode(ERRCODE_OR_CANNOT_REDUCE),
					 errmsg("openrouter_agg cannot fit %s %d into the model's context window",
							combining ? "partial answer" : "row", foreach_current_index(lc) + 1),
					 errdetail("It has %d characters; a request may carry about %d.",
							   (int) strlen(item), budget),
					 errhint("Use a model with a larger context window, or shorten the rows.")));
		if (budget > 0 && group != NIL && size + len > budget)
		{
			groups = lappend(groups, group);
			group = NIL;
			size = 0;
		}
		group = lappend(group, item);
		size += len;
	}
	return lappend(groups, group);
}

/* the request of one group */
static void
group_request(OrExchange *exchange, List *group, const char *task, text *model,
			  bool combining, int part, int parts, int *chars)
{
	OrChatArgs	args;
	StringInfoData user;
	char	   *system;
	ListCell   *lc;

	initStringInfo(&user);
	appendStringInfo(&user, "Task: %s\n\n%s:\n", task, combining ? "Answers" : "Items");
	foreach(lc, group)
		appendStringInfo(&user, "%s%s", foreach_current_index(lc) ? SEPARATOR : "",
						 (char *) lfirst(lc));
	system = combining ? COMBINE_SYSTEM
		: parts == 1 ? SINGLE_SYSTEM : psprintf(MAP_SYSTEM, part, parts);
	*chars = user.len + strlen(system);

	memset(&args, 0, sizeof(args));
	args.value[OR_CHAT_MODEL] = model;
	args.value[OR_CHAT_MESSAGES] = or_user_messages(cstring_to_text(user.data), NULL,
													cstring_to_text(system));
	exchange->failure = or_build_chat_request(&args, &exchange->request);
}

/*
 * If the failure is the service's "maximum context length is N tokens",
 * the characters a request may carry from now on (else 0).
 */
static int
budget_from_failure(const OrFailure *failure, int chars_sent)
{
	const char *at;
	long		window = 0;
	long		requested = 0;
	double		chars_per_token;

	if (failure == NULL || failure->http_status != 400 || failure->message == NULL ||
		(at = strstr(failure->message, "maximum context length is ")) == NULL ||
		sscanf(at, "maximum context length is %ld tokens", &window) != 1 || window <= 0)
		return 0;
	if ((at = strstr(failure->message, "requested about ")) == NULL ||
		sscanf(at, "requested about %ld tokens", &requested) != 1 || requested <= 0)
		requested = chars_sent / 4 + 1;
	chars_per_token = (double) chars_sent / requested;
	return (int) Min((double) PG_INT32_MAX / 2, window * chars_per_token / 2);
}

/* openrouter_agg_final(state internal) RETURNS text */
Datum
openrouter_agg_final(PG_FUNCTION_ARGS)
{
	AggState   *state = PG_ARGISNULL(0) ? NULL : (AggState *) PG_GETARG_POINTER(0);
	OrOnError	on_error = or_effective_on_error(NULL);
	text	   *model;
	List	   *items;
	int			budget = 0;		/* characters per request; 0: unknown, all */
	bool		combining = false;

	if (state == NULL || state->items == NIL)
		PG_RETURN_NULL();
	model = or_model_or_default(state->model, or_default_model, "default_model");
	items = state->items;

	for (int round = 0;; round++)
	{
		List	   *groups = pack(items, budget, combining);
		int			count = list_length(groups);
		OrExchange **batch = palloc0(sizeof(OrExchange *) * count);
		int		   *chars = palloc0(sizeof(int) * count);
		int			smaller = 0;
		List	   *answers = NIL;

		if (round >= MAX_ROUNDS ||
			(combining && count > 1 && count == list_length(items)))
			ereport(ERROR,
					(errcode(ERRCODE_OR_CANNOT_REDUCE),
					 errmsg("openrouter_agg cannot combine %d partial answers within the model's context window",
							list_length(items)),
					 errdetail("A request may carry about %d characters; the partial answers do not get fewer.", budget),
					 errhint("Ask for shorter answers in the task, or use a model with a larger context window.")));

		for (int i = 0; i < count; i++)
		{
			batch[i] = palloc0(sizeof(OrExchange));
			group_request(batch[i], list_nth(groups, i), state->task, model,
						  combining, i + 1, count, &chars[i]);
			if (batch[i]->failure != NULL)
				or_failure_raise(batch[i]->failure);	/* a bad model name */
		}
		if (!or_call(fcinfo->flinfo, batch, count, or_max_concurrency))
			PG_RETURN_NULL();	/* openrouter_prefetch() is collecting */

		/* refused for its size: learn the budget, do the round again */
		for (int i = 0; i < count; i++)
		{
			int			learned = budget_from_failure(batch[i]->failure, chars[i]);

			if (learned > 0)
				smaller = smaller == 0 ? learned : Min(smaller, learned);
		}
		if (smaller > 0)
		{
			budget = (budget > 0 && smaller >= budget) ? budget / 2 : smaller;
			continue;
		}

		for (int i = 0; i < count; i++)
		{
			char	   *answer = NULL;

			if (batch[i]->failure == NULL &&
				(answer = or_answer_text(batch[i]->result)) == NULL)
			{
				batch[i]->failure = or_failure_new(ERRCODE_OR_ANSWER_DOES_NOT_FIT, "answer_does_not_fit",
												   false, "an answer of openrouter_agg has no text");
				batch[i]->failure->response = batch[i]->result;
			}
			if (batch[i]->failure != NULL)
			{
				if (on_error == OR_ON_ERROR_ABORT)
					or_failure_raise(batch[i]->failure);
				PG_RETURN_NULL();
			}
			answers = lappend(answers, answer);
		}
		if (count == 1)
			PG_RETURN_TEXT_P(cstring_to_text(linitial(answers)));
		items = answers;
		combining = true;
	}
}
