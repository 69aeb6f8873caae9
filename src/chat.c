/*
 * chat.c
 *		openrouter_chat(): one chat completions request from SQL.
 *
 * The entry point checks the arguments, takes the answer that
 * openrouter_prefetch() fetched for this request if there is one, or else
 * hands the request to the transfer engine as a batch of one, and returns
 * the response body as jsonb, or the failure as an ERROR or as
 * {"error": ...} per on_error (openrouter.on_error, when set, overrides it).
 */
#include "openrouter.h"

#include "fmgr.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(openrouter_chat);

#define ARG_JSONB(n) (PG_ARGISNULL(n) ? NULL : PG_GETARG_JSONB_P(n))
#define ARG_TEXT(n) (PG_ARGISNULL(n) ? NULL : PG_GETARG_TEXT_PP(n))

/*
 * openrouter_chat(messages, model, model_kwargs, tools, tool_choice,
 *				   provider, transforms, site_url, site_name, on_error)
 */
Datum
openrouter_chat(PG_FUNCTION_ARGS)
{
	OrOnError	on_error = or_effective_on_error(ARG_TEXT(9));
	OrChatArgs	args;
	OrExchange	exchange = {0};
	OrFailure  *failure;

	/* like a strict function: no messages, no request */
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();

	args.messages = PG_GETARG_JSONB_P(0);
	args.model = ARG_TEXT(1);
	args.model_kwargs = ARG_JSONB(2);
	args.tools = ARG_JSONB(3);
	args.tool_choice = ARG_JSONB(4);
	args.provider = ARG_JSONB(5);
	args.transforms = ARG_JSONB(6);
	args.site_url = ARG_TEXT(7);
	args.site_name = ARG_TEXT(8);

	exchange.abort_on_failure = (on_error == OR_ON_ERROR_ABORT);
	failure = or_build_chat_request(&args, &exchange.request);

	if (or_prefetch_collecting())
	{
		/* openrouter_prefetch() is collecting requests: send nothing now */
		if (failure == NULL)
			or_prefetch_collect(&exchange.request, exchange.abort_on_failure);
		PG_RETURN_NULL();
	}
	if (failure == NULL &&
		!or_prefetch_lookup(&exchange.request, &exchange.result, &failure))
	{
		OrExchange *batch[1] = {&exchange};

		or_send(batch, 1, 1);
		failure = exchange.failure;
	}

	if (failure != NULL)
	{
		if (on_error == OR_ON_ERROR_ABORT)
			or_failure_raise(failure);
		PG_RETURN_JSONB_P(or_failure_to_jsonb(failure));
	}
	PG_RETURN_JSONB_P(exchange.result);
}
