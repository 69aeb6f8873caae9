/*
 * ai_parts.c
 *		Images and documents from the table as message content parts, and the
 *		one-question messages that carry them.
 *
 *   openrouter_content_part(data bytea, media_type text, filename text)
 *   openrouter_content_part_url(url text, media_type text)
 *   openrouter_messages(prompt text, parts jsonb[], system text)
 *
 * An image (image/png, image/jpeg, image/webp, image/gif) becomes
 * {"type": "image_url", "image_url": {"url": "data:<type>;base64,..."}} and
 * a PDF {"type": "file", "file": {"filename", "file_data": "data:..."}}, the
 * parts OpenRouter's chat completions accept; a URL is sent as the URL (a
 * PDF when the media type says so or the path ends in .pdf).  Anything else
 * is an error (22023) before anything is sent.  The user message of
 * openrouter_messages() (and of openrouter_generate's parts) is the prompt
 * as a text part followed by the parts, each checked to be an object with
 * a "type".
 */
#include "openrouter.h"

#include "catalog/pg_type.h"
#include "common/base64.h"
#include "utils/formatting.h"
#include "utils/builtins.h"

#include "ai.h"
#include "jsonb_util.h"

PG_FUNCTION_INFO_V1(openrouter_content_part);
PG_FUNCTION_INFO_V1(openrouter_content_part_url);
PG_FUNCTION_INFO_V1(openrouter_messages_with_parts);

#define SUPPORTED_MEDIA_HINT \
	"Use image/png, image/jpeg, image/webp, image/gif or application/pdf."

typedef enum PartKind
{
	PART_IMAGE,
	PART_PDF
} PartKind;

/* which part a media type makes; an error for the others */
static PartKind
part_kind(const char *media_type)
{
	static const char *const images[] = {"image/png", "image/jpeg", "image/webp", "image/gif"};

	for (size_t i = 0; i < lengthof(images); i++)
		if (pg_strcasecmp(media_type, images[i]) == 0)
			return PART_IMAGE;
	if (pg_strcasecmp(media_type, "application/pdf") == 0)
		return PART_PDF;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("media type \"%s\" cannot be a message part", media_type),
			 errhint(SUPPORTED_MEDIA_HINT)));
	return PART_IMAGE;			/* keep the compiler quiet */
}

/* {"type": "image_url", ...} or {"type": "file", ...} around a URL */
static Jsonb *
part_jsonb(PartKind kind, const char *url, const char *filename)
{
	JsonbParseState *state = NULL;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	jb_push_key(&state, "type");
	if (kind == PART_IMAGE)
	{
		jb_push_string(&state, "image_url");
		jb_push_key(&state, "image_url");
		pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		jb_push_key(&state, "url");
		jb_push_string(&state, url);
	}
	else
	{
		jb_push_string(&state, "file");
		jb_push_key(&state, "file");
		pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		jb_push_key(&state, "filename");
		jb_push_string(&state, filename);
		jb_push_key(&state, "file_data");
		jb_push_string(&state, url);
	}
	pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/* openrouter_content_part(data bytea, media_type text, filename text) */
Datum
openrouter_content_part(PG_FUNCTION_ARGS)
{
	bytea	   *data;
	char	   *media_type;
	char	   *filename;
	PartKind	kind;
	StringInfoData url;
	int			len;
	int			encoded;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("media_type must not be null"),
				 errhint(SUPPORTED_MEDIA_HINT)));
	data = PG_GETARG_BYTEA_PP(0);
	media_type = text_to_cstring(PG_GETARG_TEXT_PP(1));
	kind = part_kind(media_type);
	filename = PG_ARGISNULL(2) ? "document.pdf" : text_to_cstring(PG_GETARG_TEXT_PP(2));
	len = VARSIZE_ANY_EXHDR(data);
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("data must not be empty")));

	initStringInfo(&url);
	appendStringInfo(&url, "data:%s;base64,", asc_tolower(media_type, strlen(media_type)));
	enlargeStringInfo(&url, pg_b64_enc_len(len) + 1);
	encoded = pg_b64_encode(VARDATA_ANY(data), len, url.data + url.len,
							pg_b64_enc_len(len));
	if (encoded < 0)
		elog(ERROR, "could not encode data as base64");
	url.len += encoded;
	url.data[url.len] = '\0';
	PG_RETURN_JSONB_P(part_jsonb(kind, url.data, filename));
}

/* openrouter_content_part_url(url text, media_type text) */
Datum
openrouter_content_part_url(PG_FUNCTION_ARGS)
{
	char	   *url;
	PartKind	kind = PART_IMAGE;
	char	   *path_end;
	char	   *filename;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	url = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (pg_strncasecmp(url, "https://", 8) != 0 && pg_strncasecmp(url, "http://", 7) != 0 &&
		pg_strncasecmp(url, "data:", 5) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("url must be an http, https or data URL"),
				 errhint("Pass the bytes with openrouter_content_part(data, media_type) instead.")));

	/* the path's last segment, without a query or fragment */
	path_end = url + strcspn(url, "?#");
	filename = pnstrdup(url, path_end - url);
	if (strrchr(filename, '/') != NULL)
		filename = strrchr(filename, '/') + 1;

	if (!PG_ARGISNULL(1))
		kind = part_kind(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	else if (strlen(filename) > 4 &&
			 pg_strcasecmp(filename + strlen(filename) - 4, ".pdf") == 0)
		kind = PART_PDF;
	if (filename[0] == '\0' || pg_strncasecmp(url, "data:", 5) == 0)
		filename = "document.pdf";
	PG_RETURN_JSONB_P(part_jsonb(kind, url, filename));
}

Jsonb *
or_user_messages(text *prompt, ArrayType *parts, text *system)
{
	JsonbParseState *state = NULL;
	Datum	   *elements = NULL;
	bool	   *nulls = NULL;
	int			count = 0;

	if (parts != NULL)
	{
		if (ARR_NDIM(parts) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("parts must be a one-dimensional array")));
		deconstruct_array(parts, JSONBOID, -1, false, TYPALIGN_INT,
						  &elements, &nulls, &count);
		for (int i = 0; i < count; i++)
		{
			Jsonb	   *part;

			if (nulls[i])
				continue;
			part = DatumGetJsonbP(elements[i]);
			if (JB_ROOT_IS_SCALAR(part) || !JB_ROOT_IS_OBJECT(part) ||
				jb_object_get_string(&part->root, "type") == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("part %d is not a content part", i + 1),
						 errdetail("A content part is a JSON object with a \"type\", such as {\"type\": \"image_url\", \"image_url\": {\"url\": ...}}."),
						 errhint("Make parts with openrouter_content_part() or openrouter_content_part_url().")));
		}
	}

	pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
	if (system != NULL)
	{
		pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		jb_push_key(&state, "role");
		jb_push_string(&state, "system");
		jb_push_key(&state, "content");
		jb_push_string(&state, text_to_cstring(system));
		pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	}
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	jb_push_key(&state, "role");
	jb_push_string(&state, "user");
	jb_push_key(&state, "content");
	if (parts == NULL)
		jb_push_string(&state, text_to_cstring(prompt));
	else
	{
		pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
		pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		jb_push_key(&state, "type");
		jb_push_string(&state, "text");
		jb_push_key(&state, "text");
		jb_push_string(&state, text_to_cstring(prompt));
		pushJsonbValue(&state, WJB_END_OBJECT, NULL);
		for (int i = 0; i < count; i++)
			if (!nulls[i])
				jb_push_jsonb(&state, DatumGetJsonbP(elements[i]));
		pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	}
	pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_ARRAY, NULL));
}

/* openrouter_messages(prompt text, parts jsonb[], system text) */
Datum
openrouter_messages_with_parts(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_JSONB_P(or_user_messages(PG_GETARG_TEXT_PP(0),
									   PG_ARGISNULL(1) ? NULL : PG_GETARG_ARRAYTYPE_P(1),
									   PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2)));
}
