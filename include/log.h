/* log: every line migration-sentry prints goes to stderr through one writer:
 * the text through the edge (edge.h: secrets masked, valid UTF-8, control
 * characters escaped as \xHH, so one event is one line), each line written
 * by a single write(2), so that lines from several replicas sharing a log do
 * not interleave. A failed write never stops the gate.
 *
 * Text format (the default):
 *   log_banner  "=== MIGRATION SENTRY: <text> ==="
 *   log_note    "[SENTRY] <text>"
 *   log_warn    "[SENTRY] warning: <text>"
 *   log_plain   "<text>"          (FLASK_APP=..., DB (redacted): ...)
 *   log_error   "[SENTRY] error: <text>"
 *   log_stream  "[<stream>] <line>" (the migration command's output)
 *   log_output  "<prefix><line>"  (a server notice)
 * JSON format (log_set_json): one object a line, keys in this order:
 *   {"time": "2026-12-01T10:00:00.123Z", "level": "info", "phase": "migrate",
 *    "msg": "<text>", "stream": "migrate"}
 * time in RFC 3339 UTC with milliseconds; level "info", "warning" or "error"
 * (log_error and a banner starting "FAILED" are errors; log_warn, a note
 * starting "warning: ", a banner starting "RECOVERED" and a server notice
 * starting "WARNING:" are warnings); msg the text without its decoration
 * ("=== MIGRATION SENTRY: ", "[SENTRY] ", "error: ", "warning: "); stream
 * only on log_stream's lines. */
#ifndef SENTRY_LOG_H
#define SENTRY_LOG_H

#include <stdbool.h>
#include <stddef.h>

void log_set_json(bool json);
bool log_is_json(void);
/* Where the lines go: stderr unless told (the unit and fuzz tests read them
 * back from a file). */
void log_set_fd(int fd);
/* The gate phase now running ("config", "connect", ...), for the JSON log's
 * "phase"; a static string. */
void log_phase(const char *phase);

void log_banner(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_plain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_stream(const char *stream, const char *line, size_t len);
void log_output(const char *prefix, const char *line, size_t len);

#endif
