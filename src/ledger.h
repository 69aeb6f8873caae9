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
#include "lib/stringinfo.h"
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

/* ---------- the spool: records that outlive their transaction ---------- */

/* where a record is: a backend's spool file (of this database) and an offset */
typedef struct OrSpoolPosition
{
	pid_t		pid;
	TimestampTz session_start;
	uint64		offset;
} OrSpoolPosition;

/*
 * A kind of spooled record besides the ledger's, known by its magic number.
 * The database's worker calls begin() in each transaction that moves
 * records (SPI connected), ingest() for each record of the kind, end()
 * before that transaction commits (to write what ingest() gathered), and
 * committed() once it has committed.
 */
typedef struct OrSpoolKind
{
	uint32		magic;
	void		(*begin) (void);
	void		(*ingest) (const char *payload, uint32 length,
						   const OrSpoolPosition *position);
	void		(*end) (void);
	void		(*committed) (void);
} OrSpoolKind;

/* the largest payload a record may have */
#define OR_SPOOL_MAX_PAYLOAD (4 * 1024 * 1024)

extern void or_spool_register_kind(const OrSpoolKind *kind);
extern bool or_spool_active(void);
extern bool or_spool_defer(uint32 magic, const StringInfo payload,
						   OrSpoolPosition *position);
extern bool or_spool_flush(void);
extern bool or_spool_append(uint32 magic, const StringInfo payload);
extern void or_spool_append_string(StringInfo buf, const char *s);
extern bool or_spool_read(const OrSpoolPosition *position, uint32 magic,
						  StringInfo payload);
extern char *or_extension_table(const char *table);

/* ---------- the usage ledger ---------- */

extern bool or_usage_ledger;	/* openrouter.usage_ledger */
extern int	or_usage_retention_days; /* openrouter.usage_retention */

extern void or_usage_record_init(OrUsageRecord *record);
extern void or_usage_from_response(OrUsageRecord *record, Jsonb *response);
extern bool or_ledger_active(void);
extern void or_ledger_write(const OrUsageRecord *record);

/*
 * Record one finished exchange (scheduler.h): what it asked for, its
 * attempts, status, latency and failure, and the usage its response (or the
 * failure's response) reports; from_cache: answered by the response cache.
 */
struct OrExchange;
extern void or_ledger_write_exchange(const struct OrExchange *exchange, bool from_cache);

/* for the database's worker */
extern int64 or_ledger_ingest(void);
extern int64 or_ledger_expire(void);

#endif							/* OPENROUTER_LEDGER_H */
