/*
 * catalog.c - the stand-in's GET routes: GET /api/v1/models (the models
 * catalog, public: no key needed, as the real service) and GET /api/v1/key
 * (the key's limit and usage), with the shapes of OpenRouter's spec
 * (ModelsListResponse, getCurrentKey) and of its recordings.
 *
 * The catalog is fixed; its prices are at least what the stand-in's chat
 * answers charge (answers.c: 0.1 USD per million prompt tokens, 0.4 per
 * million completion tokens), so a client's worst-case estimate from it is an
 * upper bound.  "openrouter/auto" has the service's "-1" (a price known only
 * per request).
 */
#define _GNU_SOURCE
#include "standin.h"

#include <stdio.h>
#include <string.h>

struct catalog_model
{
	const char *id;
	const char *name;
	int			context_length;
	int			max_completion_tokens;	/* 0: null */
	const char *prompt;
	const char *completion;
	const char *request;
	const char *input_modalities;	/* comma separated */
	const char *output_modalities;
};

static const struct catalog_model models[] = {
	{"openai/gpt-4o-mini", "OpenAI: GPT-4o-mini", 128000, 16384,
	 "0.00000015", "0.0000006", "0", "text,image,file", "text"},
	{"anthropic/claude-haiku-4.5", "Anthropic: Claude Haiku 4.5", 200000, 64000,
	 "0.000001", "0.000005", "0", "image,text", "text"},
	{"standin/latency=200", "Stand-in: 200 ms answers", 8192, 1024,
	 "0.0000001", "0.0000004", "0", "text", "text"},
	{"standin/free", "Stand-in: free", 8192, 0,
	 "0", "0", "0", "text", "text"},
	{"openrouter/auto", "Auto Router", 2000000, 0,
	 "-1", "-1", NULL, "text,image,audio,file,video", "text,image"},
};

static json_object *
string_list(const char *csv)
{
	json_object *a = json_object_new_array();
	char	   *copy = xstrdup(csv);
	char	   *save = NULL;

	for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save))
		json_object_array_add(a, json_object_new_string(p));
	free(copy);
	return a;
}

static json_object *
model_json(const struct catalog_model *m)
{
	json_object *o = json_object_new_object();
	json_object *arch = json_object_new_object();
	json_object *pricing = json_object_new_object();
	json_object *top = json_object_new_object();
	json_object *links = json_object_new_object();
	json_object *params = json_object_new_array();
	char		details[256];
	char		modality[128];
	const char *slash;

	json_object_object_add(o, "id", json_object_new_string(m->id));
	json_object_object_add(o, "canonical_slug", json_object_new_string(m->id));
	json_object_object_add(o, "hugging_face_id", json_object_new_string(""));
	json_object_object_add(o, "name", json_object_new_string(m->name));
	json_object_object_add(o, "created", json_object_new_int64(1700000000));
	json_object_object_add(o, "description", json_object_new_string("A model of the local stand-in."));
	json_object_object_add(o, "context_length", json_object_new_int(m->context_length));

	slash = strchr(m->output_modalities, ',');
	snprintf(modality, sizeof(modality), "text->%.*s",
			 slash ? (int) (slash - m->output_modalities) : (int) strlen(m->output_modalities),
			 m->output_modalities);
	json_object_object_add(arch, "modality", json_object_new_string(modality));
	json_object_object_add(arch, "input_modalities", string_list(m->input_modalities));
	json_object_object_add(arch, "output_modalities", string_list(m->output_modalities));
	json_object_object_add(arch, "tokenizer", json_object_new_string("Other"));
	json_object_object_add(o, "architecture", arch);

	json_object_object_add(pricing, "prompt", json_object_new_string(m->prompt));
	json_object_object_add(pricing, "completion", json_object_new_string(m->completion));
	if (m->request)
	{
		json_object_object_add(pricing, "request", json_object_new_string(m->request));
		json_object_object_add(pricing, "image", json_object_new_string("0"));
		json_object_object_add(pricing, "web_search", json_object_new_string("0"));
		json_object_object_add(pricing, "internal_reasoning", json_object_new_string("0"));
	}
	json_object_object_add(o, "pricing", pricing);

	json_object_object_add(top, "context_length", json_object_new_int(m->context_length));
	json_object_object_add(top, "max_completion_tokens",
						   m->max_completion_tokens ? json_object_new_int(m->max_completion_tokens) : NULL);
	json_object_object_add(top, "is_moderated", json_object_new_boolean(0));
	json_object_object_add(o, "top_provider", top);
	json_object_object_add(o, "per_request_limits", NULL);
	json_object_array_add(params, json_object_new_string("max_tokens"));
	json_object_array_add(params, json_object_new_string("temperature"));
	json_object_array_add(params, json_object_new_string("tools"));
	json_object_object_add(o, "supported_parameters", params);
	json_object_object_add(o, "default_parameters", NULL);
	json_object_object_add(o, "supported_voices", NULL);
	json_object_object_add(o, "expiration_date", NULL);
	snprintf(details, sizeof(details), "/api/v1/models/%s/endpoints", m->id);
	json_object_object_add(links, "details", json_object_new_string(details));
	json_object_object_add(o, "links", links);
	return o;
}

/* GET /api/v1/models: {"data": [Model], "total_count", "links": {"next"}} */
json_object *
catalog_models_json(void)
{
	json_object *body = json_object_new_object();
	json_object *data = json_object_new_array();
	json_object *links = json_object_new_object();
	size_t		n = sizeof(models) / sizeof(models[0]);

	for (size_t i = 0; i < n; i++)
		json_object_array_add(data, model_json(&models[i]));
	json_object_object_add(body, "data", data);
	json_object_object_add(body, "total_count", json_object_new_int((int) n));
	json_object_object_add(links, "next", NULL);
	json_object_object_add(body, "links", links);
	return body;
}

/*
 * GET /api/v1/key for the bearer token: the spec's example figures; a token
 * containing "free" is a free-tier key without a limit.
 */
json_object *
catalog_key_json(const char *token)
{
	json_object *body = json_object_new_object();
	json_object *d = json_object_new_object();
	json_object *rate = json_object_new_object();
	bool		free_tier = strstr(token, "free") != NULL;
	char		label[32];

	snprintf(label, sizeof(label), "%.11s...%s", token,
			 strlen(token) > 3 ? token + strlen(token) - 3 : "");
	json_object_object_add(d, "label", json_object_new_string(label));
	json_object_object_add(d, "limit", free_tier ? NULL : json_object_new_double_s(100, "100"));
	json_object_object_add(d, "limit_reset", free_tier ? NULL : json_object_new_string("monthly"));
	json_object_object_add(d, "limit_remaining", free_tier ? NULL : json_object_new_double_s(74.5, "74.5"));
	json_object_object_add(d, "include_byok_in_limit", json_object_new_boolean(0));
	json_object_object_add(d, "usage", json_object_new_double_s(25.5, "25.5"));
	json_object_object_add(d, "usage_daily", json_object_new_double_s(0.25, "0.25"));
	json_object_object_add(d, "usage_weekly", json_object_new_double_s(3.5, "3.5"));
	json_object_object_add(d, "usage_monthly", json_object_new_double_s(12.75, "12.75"));
	json_object_object_add(d, "byok_usage", json_object_new_int(0));
	json_object_object_add(d, "byok_usage_daily", json_object_new_int(0));
	json_object_object_add(d, "byok_usage_weekly", json_object_new_int(0));
	json_object_object_add(d, "byok_usage_monthly", json_object_new_int(0));
	json_object_object_add(d, "is_free_tier", json_object_new_boolean(free_tier));
	json_object_object_add(d, "is_management_key", json_object_new_boolean(0));
	json_object_object_add(d, "is_provisioning_key", json_object_new_boolean(0));
	json_object_object_add(d, "creator_user_id", json_object_new_string(STANDIN_USER_ID));
	json_object_object_add(d, "expires_at", NULL);
	json_object_object_add(rate, "requests", json_object_new_int(-1));
	json_object_object_add(rate, "interval", json_object_new_string("10s"));
	json_object_object_add(rate, "note", json_object_new_string("This field is deprecated and safe to ignore."));
	json_object_object_add(d, "rate_limit", rate);
	json_object_object_add(body, "data", d);
	return body;
}
