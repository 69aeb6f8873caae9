/*
 * ledger.h
 *		The usage ledger: one record per request sent (or answered from the
 *		cache), kept even when the caller's transaction does not commit.
 *		See ledger.c.
 */
#ifndef OPENROUTER_LEDGER_H
#define OPENROUTER_LEDGER_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/jsonb.h"

/* what is known of one request; strings may be NULL, counts -1 when unknown */
typedef struct OrUsageRecord
{
	TimestampTz finished_at;
	Oid			role_id;		/* whose key paid */
	Oid			table_oid;		/* the computed column that asked, or InvalidOid */
	const char *column_name;
	const char *model_requested;
	const char *model_served;
	const char *provider;
	const char *generation_id;
	const char *cost;			/* usage.cost as the service wrote it (USD) */
	int64		prompt_tokens;
	int64		completion_tokens;
	int64		reasoning_tokens;
	int64		cached_tokens;
	double		latency_ms;
	int32		attempts;
	int32		http_status;	/* 0: none arrived */
	char		failure[6];		/* SQLSTATE of the failure, "" for an answer */
	bool		from_cache;
} OrUsageRecord;

extern bool or_usage_ledger;	/* openrouter.usage_ledger */
extern int	or_usage_retention_days; /* openrouter.usage_retention */

extern void or_usage_record_init(OrUsageRecord *record);
extern void or_usage_from_response(OrUsageRecord *record, Jsonb *response);
extern bool or_ledger_active(void);
extern void or_ledger_write(const OrUsageRecord *record);

/* for the database's worker */
extern int64 or_ledger_ingest(void);
extern int64 or_ledger_expire(void);

#endif							/* OPENROUTER_LEDGER_H */
