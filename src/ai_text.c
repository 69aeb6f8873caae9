/*
 * ai_text.c
 *		openrouter_text(response jsonb) RETURNS text: the text of an answer,
 *		so that nobody has to spell out ->'choices'->0->'message'->>'content'.
 *
 * The answer is read by completion.c's one reader: an error object (what
 * on_error => 'ignore' returns), a failed choice or anything that is not a
 * completion gives NULL, as does a message without text (tool calls only).
 * A content given as an array of parts gives its "text" parts, joined.
 */
#include "openrouter.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "ai.h"
#include "completion.h"
#include "jsonb_util.h"

PG_FUNCTION_INFO_V1(openrouter_text);

char *
or_answer_text(Jsonb *response)
{
	OrCompletionView view;
	JsonbValue *content;
	StringInfoData parts;
	ListCell   *lc;

	or_read_completion(response, &view);
	if (view.kind != OR_COMPLETION || view.message == NULL)
		return NULL;
	content = jb_object_get(view.message, "content");
	if (content == NULL)
		return NULL;
	if (content->type == jbvString)
		return pnstrdup(content->val.string.val, content->val.string.len);
	if (!jb_is_array(content))
		return NULL;

	initStringInfo(&parts);
	foreach(lc, jb_array_elements(content->val.binary.data))
	{
		JsonbValue *part = lfirst(lc);
		char	   *text;

		if (!jb_is_object(part) ||
			(text = jb_object_get_string(part->val.binary.data, "text")) == NULL)
			continue;
		appendStringInfoString(&parts, text);
	}
	return parts.len > 0 ? parts.data : NULL;
}

/* openrouter_text(response jsonb) RETURNS text */
Datum
openrouter_text(PG_FUNCTION_ARGS)
{
	char	   *text = or_answer_text(PG_GETARG_JSONB_P(0));

	if (text == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(text));
}
