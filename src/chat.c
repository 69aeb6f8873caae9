/*
 * chat.c
 *		openrouter_chat(): one chat completions request from SQL.
 *
 * The entry point reads its arguments through the descriptor table
 * (request.h) and builds the request; or_call() (ai_call.c) reports it to
 * openrouter_prefetch() while that collects (the call returns NULL), or
 * takes the answer the transaction's request cache has for this very
 * request (an earlier identical call, or a prefetch), or sends it and keeps
 * what came back in the cache.  It returns the response body as jsonb, or
 * the failure as an ERROR or as {"error": ...} per on_error (NULL: the
 * context decides, see failure.c).  OR_CONCURRENT_FUNCTION lets plain SQL
 * fetch its answers ahead (concurrent.c).
 */
#include "openrouter.h"

#include "fmgr.h"

#include "ai.h"
#include "concurrent.h"
#include "request.h"

PG_FUNCTION_INFO_V1(openrouter_chat);
OR_CONCURRENT_FUNCTION(openrouter_chat);

/*
 * openrouter_chat(messages, model, model_kwargs, tools, tool_choice,
 *				   provider, transforms, site_url, site_name, on_error)
 */
Datum
openrouter_chat(PG_FUNCTION_ARGS)
{
	OrChatArgs	args;
	OrOnError	on_error;
	OrExchange	exchange = {0};
	OrExchange *batch[1] = {&exchange};

	or_chat_args_from_call(fcinfo, &args);
	on_error = or_effective_on_error(OR_CHAT_TEXT(&args, OR_CHAT_ON_ERROR));

	/* like a strict function: no messages, no request */
	if (OR_CHAT_JSONB(&args, OR_CHAT_MESSAGES) == NULL)
		PG_RETURN_NULL();

	exchange.abort_on_failure = (on_error == OR_ON_ERROR_ABORT);
	exchange.failure = or_build_chat_request(&args, &exchange.request);

	/* openrouter_prefetch() is collecting requests: send nothing now */
	if (!or_call(fcinfo->flinfo, batch, 1, 1))
		PG_RETURN_NULL();

	if (exchange.failure != NULL)
	{
		if (on_error == OR_ON_ERROR_ABORT)
			or_failure_raise(exchange.failure);
		PG_RETURN_JSONB_P(or_failure_to_jsonb(exchange.failure));
	}
	PG_RETURN_JSONB_P(exchange.result);
}
