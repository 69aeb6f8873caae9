/*
 * endpoints.c - the other POST endpoints, in the shapes of OpenRouter's
 * spec and its recorded exchanges:
 *
 *   /api/v1/embeddings  {"model", "input": string | [strings], "dimensions"?}
 *       -> {"object": "list", "data": [{"object": "embedding",
 *           "embedding": [...], "index": i}], "model", "usage", "provider",
 *           "id": "gen-emb-..."}; the vectors are deterministic (a hash of
 *           the input seeds them), "dimensions" long (default 1536), of
 *           unit length.
 *   /api/v1/rerank      {"model", "query", "documents": [strings], "top_n"?}
 *       -> {"id": "gen-rerank-...", "model", "provider", "results":
 *           [{"index", "relevance_score", "document": {"text"}}], "usage"};
 *           the score of a document is the share of the query's words it
 *           contains (letters and digits, any case), most relevant first
 *           (ties by position); top_n keeps the best n.
 *
 * A body without the required members is 400, as the service answers.
 */
#include "standin.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EMBEDDINGS_PATH "/api/v1/embeddings"
#define RERANK_PATH "/api/v1/rerank"
#define DEFAULT_DIMENSIONS 1536

static uint64_t
fnv1a(const char *s)
{
	uint64_t	h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char) *s) * 1099511628211ULL;
	return h;
}

static uint64_t
next_random(uint64_t *state)
{
	uint64_t	z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static json_object *
vector_for(const char *input, long long dims)
{
	double	   *v = xmalloc(sizeof(double) * (size_t) dims);
	uint64_t	state = fnv1a(input);
	double		norm = 0;
	json_object *out = json_object_new_array();

	for (long long i = 0; i < dims; i++)
	{
		v[i] = (double) (next_random(&state) % 2000001) / 1000000.0 - 1.0;
		norm += v[i] * v[i];
	}
	norm = sqrt(norm > 0 ? norm : 1);
	for (long long i = 0; i < dims; i++)
	{
		char		num[32];

		snprintf(num, sizeof(num), "%.6f", v[i] / norm);
		json_object_array_add(out, json_object_new_double_s(v[i] / norm, num));
	}
	free(v);
	return out;
}

static json_object *
usage(long long tokens, bool rerank)
{
	json_object *u = json_object_new_object();
	char		cost[32];

	snprintf(cost, sizeof(cost), "%.9f", tokens * 2e-8);
	if (rerank)
		json_object_object_add(u, "search_units", json_object_new_int(1));
	else
		json_object_object_add(u, "prompt_tokens", json_object_new_int64(tokens));
	json_object_object_add(u, "total_tokens", json_object_new_int64(tokens));
	json_object_object_add(u, "cost", json_object_new_double_s(tokens * 2e-8, cost));
	return u;
}

static void
gen_id(char *buf, size_t n, const char *kind)
{
	snprintf(buf, n, "gen-%s-%lld-standin%06lld", kind, (long long) time(NULL),
			 counters_next_generation());
}

static void
bad_request(struct answer *a, const char *message)
{
	answer_set_json(a, 400, answer_error_json(400, message));
}

static void
embeddings(struct answer *a, const struct chat_request *req)
{
	json_object *input;
	json_object *dims_o;
	json_object *data = json_object_new_array();
	json_object *body;
	long long	dims = DEFAULT_DIMENSIONS;
	long long	chars = 0;
	size_t		count;

	if (!json_object_object_get_ex(req->body, "input", &input) ||
		!(json_object_is_type(input, json_type_string) ||
		  (json_object_is_type(input, json_type_array) &&
		   json_object_array_length(input) > 0)))
	{
		json_object_put(data);
		bad_request(a, "\"input\" must be a string or a non-empty array of strings");
		return;
	}
	if (json_object_object_get_ex(req->body, "dimensions", &dims_o))
	{
		dims = json_object_get_int64(dims_o);
		if (!json_object_is_type(dims_o, json_type_int) || dims < 1 || dims > 65536)
		{
			json_object_put(data);
			bad_request(a, "\"dimensions\" must be an integer from 1 to 65536");
			return;
		}
	}
	count = json_object_is_type(input, json_type_string) ? 1 : json_object_array_length(input);
	for (size_t i = 0; i < count; i++)
	{
		json_object *one = json_object_is_type(input, json_type_string)
			? input : json_object_array_get_idx(input, i);
		json_object *item;

		if (!json_object_is_type(one, json_type_string) ||
			json_object_get_string_len(one) == 0)
		{
			json_object_put(data);
			bad_request(a, "every input must be a non-empty string");
			return;
		}
		chars += json_object_get_string_len(one);
		item = json_object_new_object();
		json_object_object_add(item, "object", json_object_new_string("embedding"));
		json_object_object_add(item, "embedding", vector_for(json_object_get_string(one), dims));
		json_object_object_add(item, "index", json_object_new_int((int) i));
		json_object_array_add(data, item);
	}

	body = json_object_new_object();
	json_object_object_add(body, "object", json_object_new_string("list"));
	json_object_object_add(body, "data", data);
	json_object_object_add(body, "model", json_object_new_string(req->model));
	json_object_object_add(body, "usage", usage((chars + 3) / 4, false));
	json_object_object_add(body, "provider", json_object_new_string(STANDIN_PROVIDER));
	gen_id(a->gen_id, sizeof(a->gen_id), "emb");
	json_object_object_add(body, "id", json_object_new_string(a->gen_id));
	answer_set_json(a, 200, body);
}

/* the share of the query's words the document contains */
static double
relevance(const char *query, const char *document)
{
	int			words = 0;
	int			found = 0;
	const char *p = query;

	while (*p)
	{
		char		word[128];
		size_t		n = 0;

		while (*p && !isalnum((unsigned char) *p))
			p++;
		while (*p && isalnum((unsigned char) *p))
		{
			if (n < sizeof(word) - 1)
				word[n++] = *p;
			p++;
		}
		if (n == 0)
			continue;
		word[n] = '\0';
		words++;
		for (const char *d = document; *d; d++)
			if (strncasecmp(d, word, n) == 0)
			{
				found++;
				break;
			}
	}
	return words ? (double) found / words : 0;
}

struct ranked
{
	int			index;
	double		score;
};

static int
by_score(const void *a, const void *b)
{
	const struct ranked *x = a;
	const struct ranked *y = b;

	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	return x->index - y->index;
}

static void
rerank(struct answer *a, const struct chat_request *req)
{
	json_object *query;
	json_object *documents;
	json_object *top_n_o;
	json_object *results;
	json_object *body;
	struct ranked *ranked;
	size_t		count;
	long long	top_n;
	long long	chars;

	if (!json_object_object_get_ex(req->body, "query", &query) ||
		!json_object_is_type(query, json_type_string) ||
		!json_object_object_get_ex(req->body, "documents", &documents) ||
		!json_object_is_type(documents, json_type_array) ||
		json_object_array_length(documents) == 0)
	{
		bad_request(a, "\"query\" (a string) and \"documents\" (a non-empty array) are required");
		return;
	}
	count = json_object_array_length(documents);
	top_n = (long long) count;
	if (json_object_object_get_ex(req->body, "top_n", &top_n_o))
	{
		top_n = json_object_get_int64(top_n_o);
		if (!json_object_is_type(top_n_o, json_type_int) || top_n < 1)
		{
			bad_request(a, "\"top_n\" must be a positive integer");
			return;
		}
	}
	ranked = xmalloc(sizeof(struct ranked) * count);
	chars = json_object_get_string_len(query);
	for (size_t i = 0; i < count; i++)
	{
		json_object *doc = json_object_array_get_idx(documents, i);

		if (!json_object_is_type(doc, json_type_string))
		{
			free(ranked);
			bad_request(a, "every document must be a string");
			return;
		}
		chars += json_object_get_string_len(doc);
		ranked[i].index = (int) i;
		ranked[i].score = relevance(json_object_get_string(query), json_object_get_string(doc));
	}
	qsort(ranked, count, sizeof(struct ranked), by_score);

	results = json_object_new_array();
	for (size_t i = 0; i < count && (long long) i < top_n; i++)
	{
		json_object *r = json_object_new_object();
		json_object *document = json_object_new_object();
		char		score[32];

		snprintf(score, sizeof(score), "%.4f", ranked[i].score);
		json_object_object_add(document, "text",
							   json_object_get(json_object_array_get_idx(documents, ranked[i].index)));
		json_object_object_add(r, "index", json_object_new_int(ranked[i].index));
		json_object_object_add(r, "relevance_score", json_object_new_double_s(ranked[i].score, score));
		json_object_object_add(r, "document", document);
		json_object_array_add(results, r);
	}
	free(ranked);

	body = json_object_new_object();
	gen_id(a->gen_id, sizeof(a->gen_id), "rerank");
	json_object_object_add(body, "id", json_object_new_string(a->gen_id));
	json_object_object_add(body, "model", json_object_new_string(req->model));
	json_object_object_add(body, "provider", json_object_new_string(STANDIN_PROVIDER));
	json_object_object_add(body, "results", results);
	json_object_object_add(body, "usage", usage((chars + 3) / 4, true));
	answer_set_json(a, 200, body);
}

bool
answer_endpoint(struct answer *a, const struct chat_request *req)
{
	memset(a, 0, sizeof(*a));
	if (strcmp(req->path, EMBEDDINGS_PATH) == 0)
		embeddings(a, req);
	else if (strcmp(req->path, RERANK_PATH) == 0)
		rerank(a, req);
	else
		return false;
	return true;
}
