/*
 * json_types.c
 *		SQL types as JSON: the JSON Schema of a type, and a JSON value read
 *		as a value of the type.  This is the one type mapping of the
 *		extension: tool parameters (tool_specs.c, tool_arguments.c) and typed
 *		answers (ai_generate.c) use it alike.
 *
 * Types map to JSON Schema after looking through domains: text types become
 * "string", integer types "integer", real/double/numeric "number", boolean
 * "boolean", json/jsonb any value ({}), arrays an "array" of their element's
 * schema, enums a "string" with "enum" listing the labels in order, dates and
 * times a "string" with a "format" (date, time, date-time, duration for
 * interval, uuid for uuid), any other base type a "string" that the type's
 * input function reads, and composite types an "object" with one property
 * per field, all "required", "additionalProperties": false (the form strict
 * structured output asks for).  Pseudo-types and composite types without
 * fields (or with a field of an unsupported type) are not supported.
 *
 * Reading follows the same kinds: a JSON null is SQL NULL (a domain may
 * refuse it), JSON arrays are built element by element, objects field by
 * field by name (missing fields are NULL, as jsonb_populate_record does, and
 * unknown members are an error), json and jsonb take the value itself, and
 * everything else goes through the type's input function (a string's text,
 * a number's or boolean's text; 2.0 is a fine integer).  Domains' constraints
 * apply.  Errors are raised as the input functions raise them; this file
 * decides nothing about whose fault they are (or_is_fault_of_the_value()
 * tells the callers).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/catcache.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "json_types.h"
#include "jsonb_util.h"

/* does the composite type have fields, all of supported types? */
static bool
composite_is_supported(Oid base)
{
	TupleDesc	desc = lookup_rowtype_tupdesc(base, -1);
	int			fields = 0;
	bool		supported = true;

	for (int i = 0; i < desc->natts && supported; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		fields++;
		supported = or_json_type_kind(att->atttypid) != OR_JSON_TYPE_UNSUPPORTED;
	}
	ReleaseTupleDesc(desc);
	return supported && fields > 0;
}

OrJsonTypeKind
or_json_type_kind(Oid typid)
{
	Oid			base = getBaseType(typid);
	Oid			element = get_element_type(base);
	char		typtype;

	if (OidIsValid(element))
	{
		if (or_json_type_kind(element) == OR_JSON_TYPE_UNSUPPORTED)
			return OR_JSON_TYPE_UNSUPPORTED;
		return OR_JSON_TYPE_ARRAY;
	}

	switch (base)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
			return OR_JSON_TYPE_INTEGER;
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			return OR_JSON_TYPE_NUMBER;
		case BOOLOID:
			return OR_JSON_TYPE_BOOLEAN;
		case JSONOID:
		case JSONBOID:
			return OR_JSON_TYPE_JSON;
		default:
			break;
	}

	typtype = get_typtype(base);
	if (typtype == TYPTYPE_ENUM)
		return OR_JSON_TYPE_ENUM;
	if (typtype == TYPTYPE_COMPOSITE)
		return composite_is_supported(base) ? OR_JSON_TYPE_OBJECT : OR_JSON_TYPE_UNSUPPORTED;
	if (typtype == TYPTYPE_BASE || typtype == TYPTYPE_RANGE ||
		typtype == TYPTYPE_MULTIRANGE)
		return OR_JSON_TYPE_STRING;
	return OR_JSON_TYPE_UNSUPPORTED;
}

/* the JSON Schema "format" of a string type, or NULL */
static const char *
string_format(Oid base)
{
	switch (base)
	{
		case DATEOID:
			return "date";
		case TIMEOID:
		case TIMETZOID:
			return "time";
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return "date-time";
		case INTERVALOID:
			return "duration";
		case UUIDOID:
			return "uuid";
		default:
			return NULL;
	}
}

typedef struct EnumLabel
{
	float4		sort_order;
	char	   *label;
} EnumLabel;

static int
compare_enum_labels(const void *a, const void *b)
{
	float4		x = ((const EnumLabel *) a)->sort_order;
	float4		y = ((const EnumLabel *) b)->sort_order;

	return (x > y) - (x < y);
}

/* push the enum's labels, in the enum's order, as an array */
static void
push_enum_labels(JsonbParseState **state, Oid enum_type)
{
	CatCList   *list = SearchSysCacheList1(ENUMTYPOIDNAME,
										   ObjectIdGetDatum(enum_type));
	EnumLabel  *labels = palloc(sizeof(EnumLabel) * Max(list->n_members, 1));

	for (int i = 0; i < list->n_members; i++)
	{
		Form_pg_enum e = (Form_pg_enum) GETSTRUCT(&list->members[i]->tuple);

		labels[i].sort_order = e->enumsortorder;
		labels[i].label = pstrdup(NameStr(e->enumlabel));
	}
	qsort(labels, list->n_members, sizeof(EnumLabel), compare_enum_labels);

	pushJsonbValue(state, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < list->n_members; i++)
		jb_push_string(state, labels[i].label);
	pushJsonbValue(state, WJB_END_ARRAY, NULL);
	ReleaseSysCacheList(list);
}

/* push the object schema of a composite type's fields */
static void
push_composite_schema(JsonbParseState **state, Oid base)
{
	TupleDesc	desc = lookup_rowtype_tupdesc_copy(base, -1);

	jb_push_key(state, "type");
	jb_push_string(state, "object");
	jb_push_key(state, "properties");
	pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		jb_push_key(state, NameStr(att->attname));
		or_push_type_schema(state, att->atttypid);
	}
	pushJsonbValue(state, WJB_END_OBJECT, NULL);
	jb_push_key(state, "required");
	pushJsonbValue(state, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped)
			jb_push_string(state, NameStr(TupleDescAttr(desc, i)->attname));
	pushJsonbValue(state, WJB_END_ARRAY, NULL);
	jb_push_key(state, "additionalProperties");
	jb_push_bool(state, false);
}

void
or_push_type_schema(JsonbParseState **state, Oid typid)
{
	Oid			base = getBaseType(typid);
	const char *format;

	pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
	switch (or_json_type_kind(base))
	{
		case OR_JSON_TYPE_INTEGER:
			jb_push_key(state, "type");
			jb_push_string(state, "integer");
			break;
		case OR_JSON_TYPE_NUMBER:
			jb_push_key(state, "type");
			jb_push_string(state, "number");
			break;
		case OR_JSON_TYPE_BOOLEAN:
			jb_push_key(state, "type");
			jb_push_string(state, "boolean");
			break;
		case OR_JSON_TYPE_JSON:
			/* any JSON value: the empty schema */
			break;
		case OR_JSON_TYPE_ENUM:
			jb_push_key(state, "type");
			jb_push_string(state, "string");
			jb_push_key(state, "enum");
			push_enum_labels(state, base);
			break;
		case OR_JSON_TYPE_ARRAY:
			jb_push_key(state, "type");
			jb_push_string(state, "array");
			jb_push_key(state, "items");
			or_push_type_schema(state, get_element_type(base));
			break;
		case OR_JSON_TYPE_OBJECT:
			push_composite_schema(state, base);
			break;
		case OR_JSON_TYPE_STRING:
			jb_push_key(state, "type");
			jb_push_string(state, "string");
			if ((format = string_format(base)) != NULL)
			{
				jb_push_key(state, "format");
				jb_push_string(state, format);
			}
			break;
		case OR_JSON_TYPE_UNSUPPORTED:
			elog(ERROR, "type %s has no JSON Schema", format_type_be(typid));
	}
	pushJsonbValue(state, WJB_END_OBJECT, NULL);
}

bool
or_is_fault_of_the_value(int sqlerrcode)
{
	int			category = ERRCODE_TO_CATEGORY(sqlerrcode);

	/*
	 * A data exception, a domain's constraint, or a limit (nesting too deep
	 * for the stack, a value too large).  Anything else (a cancel, out of
	 * memory) is not the value's.
	 */
	return category == ERRCODE_DATA_EXCEPTION ||
		category == ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION ||
		category == ERRCODE_PROGRAM_LIMIT_EXCEEDED;
}

/* text for the type's input function */
static char *
input_text(JsonbValue *v, OrJsonTypeKind kind)
{
	char	   *text;
	char	   *dot;

	if (kind == OR_JSON_TYPE_JSON)
		return jb_value_to_json(v);
	text = jb_value_to_text(v);

	/* 2.0 is a fine integer in JSON */
	if (kind == OR_JSON_TYPE_INTEGER && v->type == jbvNumeric &&
		(dot = strchr(text, '.')) != NULL &&
		strspn(dot + 1, "0") == strlen(dot + 1))
		*dot = '\0';
	return text;
}

/* a domain's constraints on a value of its base type */
static Datum
checked(Datum value, bool isnull, Oid typid)
{
	if (getBaseType(typid) != typid)
		domain_check(value, isnull, typid, NULL, CurrentMemoryContext);
	return value;
}

/* a JSON array into an array of the (possibly domain) type typid */
static Datum
array_from_json(JsonbValue *v, Oid typid)
{
	Oid			element = get_element_type(getBaseType(typid));
	List	   *elements = jb_array_elements(v->val.binary.data);
	int			count = list_length(elements);
	Datum	   *values = palloc(sizeof(Datum) * Max(count, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(count, 1));
	int			dims[1] = {count};
	int			lbs[1] = {1};
	int16		typlen;
	bool		typbyval;
	char		typalign;
	ArrayType  *array;
	ListCell   *lc;

	foreach(lc, elements)
		values[foreach_current_index(lc)] =
			or_json_to_datum(lfirst(lc), element, &nulls[foreach_current_index(lc)]);

	get_typlenbyvalalign(element, &typlen, &typbyval, &typalign);
	if (count == 0)
		array = construct_empty_array(element);
	else
		array = construct_md_array(values, nulls, 1, dims, lbs, element,
								   typlen, typbyval, typalign);
	return checked(PointerGetDatum(array), false, typid);
}

/* a JSON object into a value of the (possibly domain) composite type typid */
static Datum
composite_from_json(JsonbValue *v, Oid typid)
{
	TupleDesc	desc = lookup_rowtype_tupdesc_copy(getBaseType(typid), -1);
	JsonbContainer *object = v->val.binary.data;
	Datum	   *values = palloc0(sizeof(Datum) * Max(desc->natts, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(desc->natts, 1));
	int			known = 0;
	JsonbIterator *it;
	JsonbValue	member;
	JsonbIteratorToken tok;

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		JsonbValue *field;

		nulls[i] = true;
		if (att->attisdropped)
			continue;
		field = jb_object_get(object, NameStr(att->attname));
		if (field == NULL)
			continue;
		known++;
		values[i] = or_json_to_datum(field, att->atttypid, &nulls[i]);
	}

	/* a member that is no field: say which */
	if (known < (int) JsonContainerSize(object))
	{
		it = JsonbIteratorInit(object);
		while ((tok = JsonbIteratorNext(&it, &member, true)) != WJB_DONE)
		{
			char	   *name;
			bool		found = false;

			if (tok != WJB_KEY)
				continue;
			name = pnstrdup(member.val.string.val, member.val.string.len);
			for (int i = 0; i < desc->natts && !found; i++)
				found = !TupleDescAttr(desc, i)->attisdropped &&
					strcmp(NameStr(TupleDescAttr(desc, i)->attname), name) == 0;
			if (!found)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						 errmsg("type %s has no field \"%s\"", format_type_be(typid), name)));
		}
	}
	return checked(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)),
				   false, typid);
}

Datum
or_json_to_datum(JsonbValue *v, Oid typid, bool *isnull)
{
	OrJsonTypeKind kind = or_json_type_kind(typid);
	Oid			typinput;
	Oid			typioparam;

	*isnull = false;
	if (v->type == jbvNull && kind != OR_JSON_TYPE_JSON)
	{
		*isnull = true;
		return checked((Datum) 0, true, typid);
	}
	if (kind == OR_JSON_TYPE_ARRAY && jb_is_array(v))
		return array_from_json(v, typid);
	if (kind == OR_JSON_TYPE_OBJECT)
	{
		if (!jb_is_object(v))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("a value of type %s must be a JSON object, not a JSON %s",
							format_type_be(typid), jb_type_name(v))));
		return composite_from_json(v, typid);
	}

	getTypeInputInfo(typid, &typinput, &typioparam);
	return OidInputFunctionCall(typinput, input_text(v, kind), typioparam, -1);
}

bool
or_try_value(OrValueStep step, void *arg, char **why)
{
	MemoryContext context = CurrentMemoryContext;
	volatile bool fits = true;

	PG_TRY();
	{
		step(arg);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		if (!or_is_fault_of_the_value(edata->sqlerrcode))
			PG_RE_THROW();
		FlushErrorState();
		*why = edata->message;
		fits = false;
	}
	PG_END_TRY();
	return fits;
}

typedef struct ReadValue
{
	JsonbValue *value;
	Oid			typid;
	Datum	   *result;
	bool	   *isnull;
} ReadValue;

static void
read_value(void *arg)
{
	ReadValue  *r = arg;

	*r->result = or_json_to_datum(r->value, r->typid, r->isnull);
}

bool
or_json_read_value(JsonbValue *v, Oid typid, Datum *result, bool *isnull, char **why)
{
	ReadValue	r = {v, typid, result, isnull};

	return or_try_value(read_value, &r, why);
}
