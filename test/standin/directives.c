/*
 * directives.c - scenario control: turns a model name such as
 * "standin/status=429;times=2;key=t1;retry_after=1" into a struct
 * directives, validating every name and value, and applies the
 * times=/key= counting that switches failure directives off once spent.
 */
#include "standin.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STANDIN_PREFIX "standin/"

enum dkind
{
	D_FLAG,						/* no value */
	D_INT,						/* integer value required */
	D_OPT_INT,					/* integer value optional (default dflt) */
	D_STR,						/* string value required */
	D_RESET_IN					/* body | header | both */
};

struct dspec
{
	const char *name;
	enum dkind	kind;
	size_t		off;			/* offset of the field in struct directives */
	long long	min;
	long long	max;
	long long	dflt;			/* D_OPT_INT without a value */
};

#define F(field) offsetof(struct directives, field)

static const struct dspec specs[] = {
	{"echo", D_FLAG, F(echo), 0, 0, 0},
	{"stats", D_FLAG, F(stats), 0, 0, 0},
	{"stats_reset", D_FLAG, F(stats_reset), 0, 0, 0},
	{"big", D_INT, F(big), 0, 1000000000LL, 0},
	{"tool_calls", D_STR, F(tool_calls), 0, 0, 0},
	{"ratelimit", D_INT, F(ratelimit), 1, 1000000LL, 0},
	{"ratelimit_stats", D_FLAG, F(ratelimit_stats), 0, 0, 0},
	{"latency", D_INT, F(latency_ms), 0, 3600000LL, 0},
	{"hang", D_FLAG, F(hang), 0, 0, 0},
	{"status", D_INT, F(status), 200, 599, 0},
	{"reset", D_FLAG, F(reset), 0, 0, 0},
	{"truncate", D_FLAG, F(truncate), 0, 0, 0},
	{"empty", D_FLAG, F(empty), 0, 0, 0},
	{"pad", D_FLAG, F(pad), 0, 0, 0},
	{"garbage", D_FLAG, F(garbage), 0, 0, 0},
	{"error200", D_OPT_INT, F(error200), 100, 599, 502},
	{"choice_error", D_FLAG, F(choice_error), 0, 0, 0},
	{"replay", D_STR, F(replay), 0, 0, 0},
	{"odd", D_STR, F(odd), 0, 0, 0},
	{"auth_error", D_FLAG, F(auth_error), 0, 0, 0},
	{"echo_key", D_STR, F(echo_key), 0, 0, 0},
	{"error_bytes", D_INT, F(error_bytes), 0, 100000000LL, 0},
	{"retry_after", D_INT, F(retry_after), 0, 1000000000LL, 0},
	{"retry_after_date", D_INT, F(retry_after_date), 0, 1000000000LL, 0},
	{"ratelimit_reset_ms", D_INT, F(ratelimit_reset_ms), 0, 1000000000000LL, 0},
	{"reset_in", D_RESET_IN, F(reset_in), 0, 0, 0},
	{"misfit", D_FLAG, F(misfit), 0, 0, 0},
	{"misfit_json", D_FLAG, F(misfit_json), 0, 0, 0},
	{"context", D_INT, F(context), 1, 1000000000LL, 0},
	{"times", D_INT, F(times), 0, 1000000000000LL, 0},
	{"key", D_STR, F(key), 0, 0, 0},
};

#undef F

static void
directives_init(struct directives *d)
{
	memset(d, 0, sizeof(*d));
	d->big = -1;
	d->ratelimit = -1;
	d->error_bytes = -1;
	d->latency_ms = -1;
	d->retry_after = -1;
	d->retry_after_date = -1;
	d->ratelimit_reset_ms = -1;
	d->times = -1;
	d->reset_in = RESET_IN_BOTH;
}

void
directives_free(struct directives *d)
{
	free(d->buf);
	d->buf = NULL;
}

static const struct dspec *
find_spec(const char *name)
{
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
		if (strcmp(specs[i].name, name) == 0)
			return &specs[i];
	return NULL;
}

static int
parse_int(const char *s, long long *out)
{
	char	   *end;

	if (*s == '\0' || isspace((unsigned char) *s))
		return -1;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return (errno != 0 || *end != '\0') ? -1 : 0;
}

static bool
valid_fixture_name(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char) *s) && *s != '_' && *s != '.' && *s != '-')
			return false;
	return true;
}

/* NAME:ARGS_BASE64URL[,NAME:ARGS_BASE64URL...] */
static bool
valid_tool_calls(const char *spec)
{
	char	   *copy = xstrdup(spec);
	char	   *save = NULL;
	bool		ok = true;
	int			n = 0;

	for (char *item = strtok_r(copy, ",", &save); item && ok;
		 item = strtok_r(NULL, ",", &save))
	{
		char	   *colon = strchr(item, ':');
		char	   *args;

		n++;
		if (colon == NULL || colon == item)
		{
			ok = false;
			break;
		}
		args = b64url_decode(colon + 1, NULL);
		ok = (args != NULL);
		free(args);
	}
	free(copy);
	return ok && n > 0;
}

static int
set_value(struct directives *d, const struct dspec *sp, const char *value,
		  char *err, size_t errlen)
{
	char	   *field = (char *) d + sp->off;
	long long	v;

	switch (sp->kind)
	{
		case D_FLAG:
			if (value)
			{
				snprintf(err, errlen, "standin: directive '%s' takes no value",
						 sp->name);
				return -1;
			}
			*(bool *) field = true;
			return 0;
		case D_OPT_INT:
			if (value == NULL)
			{
				*(long long *) field = sp->dflt;
				return 0;
			}
			/* FALLTHROUGH */
		case D_INT:
			if (value == NULL || parse_int(value, &v) != 0 ||
				v < sp->min || v > sp->max)
			{
				snprintf(err, errlen,
						 "standin: directive '%s' needs an integer from %lld to %lld",
						 sp->name, sp->min, sp->max);
				return -1;
			}
			*(long long *) field = v;
			return 0;
		case D_STR:
			if (value == NULL || *value == '\0')
			{
				snprintf(err, errlen, "standin: directive '%s' needs a value",
						 sp->name);
				return -1;
			}
			*(const char **) field = value;
			return 0;
		case D_RESET_IN:
			if (value && strcmp(value, "body") == 0)
				d->reset_in = RESET_IN_BODY;
			else if (value && strcmp(value, "header") == 0)
				d->reset_in = RESET_IN_HEADER;
			else if (value && strcmp(value, "both") == 0)
				d->reset_in = RESET_IN_BOTH;
			else
			{
				snprintf(err, errlen,
						 "standin: directive 'reset_in' needs body, header or both");
				return -1;
			}
			return 0;
	}
	return -1;
}

static int
check_values(const struct directives *d, char *err, size_t errlen)
{
	if (d->replay && !valid_fixture_name(d->replay))
	{
		snprintf(err, errlen,
				 "standin: replay name must match [A-Za-z0-9_.-]+");
		return -1;
	}
	if (d->odd && !answer_odd_kind_known(d->odd))
	{
		snprintf(err, errlen,
				 "standin: odd must be deep, exp, digits, escape, error_string, array or trailing");
		return -1;
	}
	if (d->echo_key && !answer_echo_key_kind_known(d->echo_key))
	{
		snprintf(err, errlen,
				 "standin: echo_key must be content, model, arguments, arguments_escaped, escaped or escaped_error");
		return -1;
	}
	if (d->tool_calls && !valid_tool_calls(d->tool_calls))
	{
		snprintf(err, errlen,
				 "standin: tool_calls must be NAME:ARGS_BASE64URL[,...]");
		return -1;
	}
	return 0;
}

int
directives_parse(const char *model, struct directives *d, char *err,
				 size_t errlen)
{
	char	   *save = NULL;

	directives_init(d);
	if (model == NULL || strncmp(model, STANDIN_PREFIX, strlen(STANDIN_PREFIX)) != 0)
		return 0;

	d->buf = xstrdup(model + strlen(STANDIN_PREFIX));
	for (char *item = strtok_r(d->buf, ";", &save); item;
		 item = strtok_r(NULL, ";", &save))
	{
		char	   *eq = strchr(item, '=');
		const struct dspec *sp;

		if (eq)
			*eq = '\0';
		if (*item == '\0')
			continue;
		sp = find_spec(item);
		if (sp == NULL)
		{
			snprintf(err, errlen, "standin: unknown directive '%s'", item);
			return -1;
		}
		if (set_value(d, sp, eq ? eq + 1 : NULL, err, errlen) != 0)
			return -1;
	}
	return check_values(d, err, errlen);
}

static void
drop_failures(struct directives *d)
{
	d->latency_ms = -1;
	d->hang = false;
	d->status = 0;
	d->reset = false;
	d->truncate = false;
	d->empty = false;
	d->pad = false;
	d->garbage = false;
	d->error200 = 0;
	d->choice_error = false;
	d->replay = NULL;
	d->odd = NULL;
	d->auth_error = false;
	d->echo_key = NULL;
	d->error_bytes = -1;
	d->retry_after = -1;
	d->retry_after_date = -1;
	d->ratelimit_reset_ms = -1;
}

void
directives_apply_times(struct directives *d, const char *model)
{
	if (d->times < 0)
		return;
	if (counters_key_hit(d->key ? d->key : model) > d->times)
		drop_failures(d);
}
