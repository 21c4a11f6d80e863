/* log: every line migration-sentry prints goes to stderr through one writer,
 * with registered secrets masked and each line written by a single write(2),
 * so that lines from several replicas sharing a log do not interleave.
 *   log_banner  "=== MIGRATION SENTRY: <text> ==="
 *   log_note    "[SENTRY] <text>"
 *   log_plain   "<text>"          (FLASK_APP=..., DB (redacted): ...)
 *   log_error   "[SENTRY] error: <text>"
 *   log_output  "<prefix><line>"  (the migration command's output) */
#ifndef SENTRY_LOG_H
#define SENTRY_LOG_H

#include <stddef.h>

void log_banner(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_plain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_output(const char *prefix, const char *line, size_t len);
/* The gate phase now running ("config", "connect", ...), for the JSON log's
 * "phase"; a static string. */
void log_phase(const char *phase);

#endif
