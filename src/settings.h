/*
 * settings.h
 *		The extension's settings (openrouter.*), defined in guc.c.  Only the
 *		SQL entry points read them: the scheduler and the HTTP engine get
 *		what they need as data (OrSchedule, scheduler.h).
 */
#ifndef OPENROUTER_SETTINGS_H
#define OPENROUTER_SETTINGS_H

/* what a failure does: raise, or come back as {"error": ...} */
typedef enum OrOnError
{
	OR_ON_ERROR_ABORT,
	OR_ON_ERROR_IGNORE
} OrOnError;

extern char *or_base_url;
extern char *or_session_api_key;
extern char *or_site_url;
extern char *or_site_name;
extern char *or_ca_file;
extern char *or_proxy;
extern char *or_default_model;			/* AI functions (ai_call.c) */
extern char *or_default_embedding_model;
extern char *or_default_rerank_model;
extern int	or_timeout_ms;
extern int	or_connect_timeout_ms;
extern int	or_max_retries;
extern int	or_max_retry_wait_ms;
extern int	or_max_response_kb;
extern int	or_request_cache_kb;
extern int	or_max_concurrency;
extern int	or_requests_per_minute;
extern bool or_concurrent_calls;
extern int	or_on_error_setting;		/* -1: none, else an OrOnError */

extern void or_define_gucs(void);
extern void or_restore_refused_settings(void);
extern bool or_on_error_overrides(void);	/* 1.0's SQL: the setting overrides */

#endif							/* OPENROUTER_SETTINGS_H */
