/*
 * json_check.c
 *		JSON text from the network, as jsonb, without an ERROR for anything
 *		the text holds.
 *
 * PostgreSQL's JSON input raises for some texts whose grammar is right:
 * nesting deep enough to exhaust the stack (54001), numbers numeric cannot
 * hold (22003, 22P02), \u escapes of characters the database encoding
 * cannot hold, \u0000 and lone surrogates (22P05, 22P02), strings and
 * documents larger than jsonb holds (54000).  One pass over the text finds
 * each of these first; the grammar is then checked by pg_parse_json with no
 * semantic actions and no de-escaping (which raises nothing), and only then
 * does jsonb_in see the text.
 *
 * Rule kept here: nothing in the text can make these functions raise.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"

#include "json_check.h"

/* numeric's limits (numeric.c): decimal exponent, weight and scale */
#define NUMERIC_EXPONENT_MAX 1000
#define NUMERIC_DECIMAL_WEIGHT_MAX 131071
#define NUMERIC_DECIMAL_SCALE_MAX 16383

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* the code point of \uXXXX at s (s[0] == '\\'), or -1 */
static int
escape_code_point(const char *s, const char *end)
{
	int			cp = 0;

	if (end - s < 6 || s[1] != 'u')
		return -1;
	for (int i = 2; i < 6; i++)
	{
		int			h = hex_value(s[i]);

		if (h < 0)
			return -1;
		cp = cp * 16 + h;
	}
	return cp;
}

/* UTF-8 text in the database encoding, or NULL when it cannot be (never raises) */
char *
or_utf8_to_server(const char *utf8, size_t len)
{
	int			encoding = GetDatabaseEncoding();
	Oid			proc;
	unsigned char *converted;
	int			done;

	if (encoding == PG_UTF8 || encoding == PG_SQL_ASCII)
		return pnstrdup(utf8, len);
	proc = FindDefaultConversionProc(PG_UTF8, encoding);
	if (!OidIsValid(proc))
		return NULL;
	converted = palloc(len * MAX_CONVERSION_GROWTH + 1);
	done = pg_do_encoding_conversion_buf(proc, PG_UTF8, encoding,
										 (unsigned char *) utf8, (int) len,
										 converted, (int) (len * MAX_CONVERSION_GROWTH + 1),
										 true);
	return (done == (int) len) ? (char *) converted : NULL;
}

/* can the database encoding hold this character?  (never raises) */
static bool
code_point_fits(pg_wchar cp)
{
	unsigned char utf8[8];

	if (GetDatabaseEncoding() == PG_UTF8 || cp <= 0x7f)
		return true;
	if (GetDatabaseEncoding() == PG_SQL_ASCII)
		return false;
	unicode_to_utf8(cp, utf8);
	return or_utf8_to_server((char *) utf8, pg_utf_mblen(utf8)) != NULL;
}

/*
 * Check the string starting at *p (the opening quote); advance past it.
 * *closed says whether its closing quote came before the end.
 */
static char *
check_string(const char **p, const char *end, bool *closed)
{
	const char *s = *p + 1;
	const char *start = s;

	while (s < end && *s != '"')
	{
		int			cp;

		if (*s != '\\')
		{
			s++;
			continue;
		}
		cp = escape_code_point(s, end);
		if (cp < 0)
		{
			s += 2;				/* another escape; the grammar check judges it */
			continue;
		}
		s += 6;
		if (cp >= 0xD800 && cp <= 0xDBFF)
		{
			int			low = escape_code_point(s, end);

			if (low < 0xDC00 || low > 0xDFFF)
				return pstrdup(_("It has a Unicode escape of a lone surrogate."));
			cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
			s += 6;
		}
		else if (cp >= 0xDC00 && cp <= 0xDFFF)
			return pstrdup(_("It has a Unicode escape of a lone surrogate."));
		if (cp == 0)
			return pstrdup(_("It has the escape \\u0000, which text cannot hold."));
		if (!code_point_fits(cp))
			return psprintf(_("It has the escape of a character (U+%04X) that the database encoding %s cannot hold; use a UTF8 database."),
							cp, GetDatabaseEncodingName());
	}
	if (s - start > JENTRY_OFFLENMASK)
		return pstrdup(_("It has a string longer than jsonb can hold."));
	*closed = (s < end);
	*p = (s < end) ? s + 1 : end;
	return NULL;
}

/* check the number starting at *p; advance past it */
static char *
check_number(const char **p, const char *end)
{
	const char *s = *p;
	int64		int_digits = 0;
	int64		frac_digits = 0;
	int64		exponent = 0;
	int64		weight;
	int64		scale;

	if (*s == '-')
		s++;
	while (s < end && isdigit((unsigned char) *s))
		s++, int_digits++;
	if (s < end && *s == '.')
	{
		s++;
		while (s < end && isdigit((unsigned char) *s))
			s++, frac_digits++;
	}
	if (s < end && (*s == 'e' || *s == 'E'))
	{
		bool		negative = false;

		s++;
		if (s < end && (*s == '+' || *s == '-'))
			negative = (*s++ == '-');
		while (s < end && isdigit((unsigned char) *s))
		{
			if (exponent <= NUMERIC_EXPONENT_MAX)
				exponent = exponent * 10 + (*s - '0');
			s++;
		}
		if (negative)
			exponent = -exponent;
	}
	*p = s;
	weight = int_digits - 1 + exponent;
	scale = Max(frac_digits - exponent, 0);
	if (exponent > NUMERIC_EXPONENT_MAX || exponent < -NUMERIC_EXPONENT_MAX ||
		weight > NUMERIC_DECIMAL_WEIGHT_MAX || scale > NUMERIC_DECIMAL_SCALE_MAX)
		return pstrdup(_("It has a number that PostgreSQL's numeric type cannot hold."));
	return NULL;
}

/*
 * One pass over the text: what makes jsonb_in raise, or NULL; *open_at_end
 * says whether an array, object or string is still open where the text ends.
 */
static char *
scan(const char *text, size_t len, bool *open_at_end)
{
	const char *p = text;
	const char *end = text + len;
	int			depth = 0;
	char	   *why;

	*open_at_end = false;
	if (len > JENTRY_OFFLENMASK)
		return pstrdup(_("It is larger than jsonb can hold."));
	while (p < end)
	{
		char		c = *p;

		if (c == '"')
		{
			bool		closed = true;

			if ((why = check_string(&p, end, &closed)) != NULL)
				return why;
			if (!closed)
				*open_at_end = true;
		}
		else if (c == '-' || isdigit((unsigned char) c))
		{
			if ((why = check_number(&p, end)) != NULL)
				return why;
		}
		else
		{
			if (c == '[' || c == '{')
			{
				if (++depth > OR_JSON_MAX_DEPTH)
					return psprintf(_("It is nested deeper than %d levels."),
									OR_JSON_MAX_DEPTH);
			}
			else if (c == ']' || c == '}')
				depth--;
			p++;
		}
	}
	if (depth > 0)
		*open_at_end = true;
	return NULL;
}

char *
or_json_check(const char *text, size_t len)
{
	bool		open_at_end;

	return scan(text, len, &open_at_end);
}

Jsonb *
or_json_parse(const char *text, size_t len, OrJsonProblem *problem, char **why)
{
	JsonLexContext *lex;
	JsonParseErrorType rc;
	bool		open_at_end;

	*problem = OR_JSON_OK;
	if ((*why = scan(text, len, &open_at_end)) != NULL)
	{
		*problem = OR_JSON_UNHOLDABLE;
		return NULL;
	}
	lex = makeJsonLexContextCstringLen(unconstify(char *, text), (int) len,
									   GetDatabaseEncoding(), false);
	rc = pg_parse_json(lex, &nullSemAction);
	if (rc != JSON_SUCCESS)
	{
		*why = json_errdetail(rc, lex);
		/* cut short: the text ended inside an array, object or string */
		*problem = open_at_end ? OR_JSON_TRUNCATED : OR_JSON_INVALID;
		return NULL;
	}
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
}
