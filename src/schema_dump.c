#include "schema_dump.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One statement, one round trip. The first CTE empties search_path for this
 * statement's transaction only (set_config's is_local); the LATERAL part
 * refers to it, so PostgreSQL must evaluate it first, and every catalog
 * function below then qualifies every name outside pg_catalog.
 * Every gate start gets a fresh backend, on which parsing and planning this
 * costs more than running it: hence correlated subqueries rather than joins,
 * and plain function calls rather than subqueries wherever one will do (the
 * partition's tree by pg_partition_root, the collation against "default",
 * the indexes behind a constraint told apart on the client by the oids both
 * sides send). Each object is built as JSON on
 * the server; NULL stands for "none" and "char" flags come raw: normalise()
 * turns them into the file's shape. The text is sent as UTF-8 bytes whatever
 * the client_encoding. %s: the enums. */
static const char DESCRIBE_SQL[] =
    "WITH cfg AS MATERIALIZED (SELECT pg_catalog.set_config('search_path', '', true) AS sp)\n"
    "SELECT pg_catalog.convert_to(COALESCE(q.doc, '{}')::text, 'UTF8') FROM cfg, LATERAL (\n"
    " SELECT pg_catalog.json_object_agg(n.nspname, pg_catalog.json_build_object(\n"
    "  'enums', %s,\n"
    "  'tables', (SELECT pg_catalog.json_object_agg(c.relname, pg_catalog.json_build_object(\n"
    "   'partition_by', CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END,\n"
    "   'partition_of', CASE WHEN c.relispartition THEN pg_catalog.pg_partition_root(c.oid)::text\n"
    "       || ' ' || pg_catalog.pg_get_expr(c.relpartbound, c.oid) END,\n"
    "   'columns', (SELECT pg_catalog.json_object_agg(a.attname, pg_catalog.json_build_object(\n"
    "       'type', pg_catalog.format_type(a.atttypid, a.atttypmod), 'not_null', a.attnotnull,\n"
    "       'default', CASE WHEN a.atthasdef THEN (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid)\n"
    "           FROM pg_catalog.pg_attrdef d WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum) END,\n"
    "       'identity', a.attidentity, 'generated', a.attgenerated,\n"
    "       'collation', CASE WHEN a.attcollation NOT IN (0, 100) /* none, \"default\" */\n"
    "           THEN a.attcollation::pg_catalog.regcollation END))\n"
    "     FROM pg_catalog.pg_attribute a\n"
    "     WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),\n"
    "   'constraints', (SELECT pg_catalog.json_object_agg(k.conname, pg_catalog.json_build_array(\n"
    "       pg_catalog.pg_get_constraintdef(k.oid), CASE WHEN k.contype IN ('p', 'u', 'x') THEN k.conindid END))\n"
    "     FROM pg_catalog.pg_constraint k\n"
    "     WHERE k.conrelid = c.oid AND k.contype IN ('p', 'u', 'f', 'c', 'x')),\n"
    "   'indexes', (SELECT pg_catalog.json_object_agg(ic.relname, pg_catalog.json_build_array(\n"
    "       pg_catalog.pg_get_indexdef(i.indexrelid), i.indexrelid))\n"
    "     FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid\n"
    "     WHERE i.indrelid = c.oid)))\n"
    "  FROM pg_catalog.pg_class c WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p')\n"
    "    AND c.relname <> ALL (ARRAY[$2, 'migration_sentry_revisions']))))\n"
    " AS doc FROM pg_catalog.pg_namespace n\n"
    " WHERE n.nspname = ANY ($1::pg_catalog.text[]) AND cfg.sp IS NOT NULL) q";

static const char ENUMS_SQL[] =
    "(SELECT pg_catalog.json_object_agg(t.typname, (SELECT pg_catalog.json_agg(e.enumlabel\n"
    "      ORDER BY e.enumsortorder) FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid))\n"
    "    FROM pg_catalog.pg_type t WHERE t.typnamespace = n.oid AND t.typtype = 'e')";

/* --- SENTRY_SCHEMAS --------------------------------------------------------- */

/* One name: "quoted" (with "" for a quote) kept as it is, bare folded to
 * lower case as PostgreSQL folds it. NULL when it is not a name. */
static char *parse_name(const char *s)
{
    char *out = xmalloc(strlen(s) + 1), *o = out;
    if (*s == '"') {
        for (s++; *s; s++) {
            if (*s == '"' && s[1] != '"')
                break;
            *o++ = *s;
            s += *s == '"';
        }
        if (*s != '"' || s[1])
            o = out; /* unterminated, or text after the closing quote */
    } else {
        for (; *s && *s != '"' && *s != ' ' && *s != '\t'; s++)
            *o++ = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
        if (*s)
            o = out;
    }
    *o = '\0';
    if (!*out || o - out > 63) {
        free(out);
        return NULL;
    }
    return out;
}

int schema_names_parse(const struct strlist *items, const char *what, struct strlist *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < items->n; i++) {
        char *name = parse_name(items->v[i]);
        if (!name) {
            err_set(e, "%s: '%.80s' is not a schema name (1 to 63 bytes; \"Quoted\" for other cases)",
                    what, items->v[i]);
            strlist_free(out);
            return -1;
        }
        if (strlist_contains(out, name))
            free(name);
        else
            strlist_push_owned(out, name);
    }
    strlist_sort(out);
    return 0;
}

/* --- the query ------------------------------------------------------------------ */

static enum schema_rc query_failed(const struct db *d, enum dbq_rc q, PGresult *r, struct err *e)
{
    if (q != DBQ_OK || !d->conn)
        return SCHEMA_CONNECTION; /* e says why */
    err_set(e, "describing the schema failed: %s", db_message(r));
    return db_denied(r) ? SCHEMA_PRIVILEGE : SCHEMA_FAILED;
}

/* --- the server's answer into the file's shape ------------------------------------ */

static bool is_text(const struct jt *v)
{
    return v && v->type == JT_STRING;
}

static bool is_text_or_null(const struct jt *v)
{
    return v && (v->type == JT_STRING || v->type == JT_NULL);
}

static bool is_map_or_null(const struct jt *v)
{
    return v && (v->type == JT_OBJECT || v->type == JT_NULL);
}

/* A "char" flag as a word: "" none, otherwise the word for it (an unknown
 * flag from a newer server is kept as it is, so that it still compares). */
static void add_flag(struct jt *out, const char *key, const struct jt *flag, const char *c1,
                     const char *w1, const char *c2, const char *w2)
{
    if (!is_text(flag) || !*flag->s)
        return;
    const char *w = strcmp(flag->s, c1) == 0 ? w1 : strcmp(flag->s, c2) == 0 ? w2 : flag->s;
    jt_add(out, key, jt_string(w));
}

static int norm_column(const struct jt *in, struct jt *out)
{
    const struct jt *type = jt_get(in, "type"), *nn = jt_get(in, "not_null"),
                    *def = jt_get(in, "default"), *coll = jt_get(in, "collation");
    *out = jt_object();
    if (!is_text(type) || !nn || nn->type != JT_BOOL || !is_text_or_null(def) || !is_text_or_null(coll))
        return -1;
    jt_add(out, "type", jt_string(type->s));
    jt_add(out, "not_null", jt_bool(nn->b));
    jt_add(out, "default", is_text(def) ? jt_string(def->s) : jt_null());
    add_flag(out, "identity", jt_get(in, "identity"), "a", "always", "d", "by default");
    add_flag(out, "generated", jt_get(in, "generated"), "s", "stored", "v", "virtual");
    if (is_text(coll))
        jt_add(out, "collation", jt_string(coll->s));
    jt_sort(out);
    return 0;
}

/* {name: [definition, oid]} (NULL: none) into {name: definition}; the
 * oids of constraint indexes are collected into *owned (constraints), or
 * those indexes left out (indexes). A NULL definition (an object dropped
 * while we looked) is left out. */
static int norm_defs(const struct jt *in, struct jt *out, struct strlist *owned, bool indexes)
{
    *out = jt_object();
    if (!is_map_or_null(in))
        return -1;
    for (size_t i = 0; i < in->n; i++) {
        const struct jt *pair = &in->v[i];
        if (pair->type != JT_ARRAY || pair->n != 2 || !is_text_or_null(&pair->v[0]))
            return -1;
        const struct jt *oid = &pair->v[1]; /* an oid comes as a string, none as null */
        bool has_oid = oid->type == JT_STRING || oid->type == JT_NUMBER;
        if (has_oid && !indexes)
            strlist_push(owned, oid->s);
        if (has_oid && indexes && strlist_contains(owned, oid->s))
            continue;
        if (is_text(&pair->v[0]))
            jt_add(out, pair->key, jt_string(pair->v[0].s));
    }
    return 0;
}

/* Every part is added even on failure, so that the caller can free it all. */
static int norm_table(const struct jt *in, struct jt *out)
{
    const struct jt *cols = jt_get(in, "columns"), *by = jt_get(in, "partition_by"),
                    *of = jt_get(in, "partition_of");
    struct jt c = jt_object(), k, ix;
    int rc = is_map_or_null(cols) && is_text_or_null(by) && is_text_or_null(of) ? 0 : -1;
    for (size_t i = 0; !rc && i < cols->n; i++) {
        struct jt col;
        rc = norm_column(&cols->v[i], &col);
        jt_add(&c, cols->v[i].key, col);
    }
    struct strlist owned = {0};
    *out = jt_object();
    jt_add(out, "columns", c);
    rc |= norm_defs(jt_get(in, "constraints"), &k, &owned, false);
    jt_add(out, "constraints", k);
    rc |= norm_defs(jt_get(in, "indexes"), &ix, &owned, true);
    jt_add(out, "indexes", ix);
    strlist_free(&owned);
    if (!rc && is_text(by))
        jt_add(out, "partition_by", jt_string(by->s));
    if (!rc && is_text(of))
        jt_add(out, "partition_of", jt_string(of->s));
    jt_sort(out);
    return rc;
}

static int norm_enums(const struct jt *in, struct jt *out)
{
    *out = jt_object();
    if (!is_map_or_null(in))
        return -1;
    for (size_t i = 0; i < in->n; i++) {
        const struct jt *labels = &in->v[i];
        if (labels->type != JT_NULL && !jt_is_string_array(labels))
            return -1;
        struct jt a = jt_array();
        for (size_t j = 0; j < labels->n; j++)
            jt_add(&a, NULL, jt_string(labels->v[j].s));
        jt_add(out, labels->key, a);
    }
    return 0;
}

static int norm_schema(const struct jt *in, struct jt *out)
{
    const struct jt *tables = jt_get(in, "tables");
    struct jt en, t = jt_object();
    int rc = norm_enums(jt_get(in, "enums"), &en);
    *out = jt_object();
    jt_add(out, "enums", en);
    if (!rc && !is_map_or_null(tables))
        rc = -1;
    for (size_t i = 0; !rc && i < tables->n; i++) {
        struct jt tab;
        rc = norm_table(&tables->v[i], &tab);
        jt_add(&t, tables->v[i].key, tab);
    }
    jt_add(out, "tables", t);
    return rc;
}

static int normalise(const struct jt *raw, struct jt *schemas)
{
    *schemas = jt_object();
    if (raw->type != JT_OBJECT)
        return -1;
    for (size_t i = 0; i < raw->n; i++) {
        struct jt s;
        int rc = norm_schema(&raw->v[i], &s);
        jt_add(schemas, raw->v[i].key, s);
        if (rc)
            return -1;
    }
    return 0;
}

static enum schema_rc answer(const char *bytes, int len, int server, struct jt *doc, struct err *e)
{
    struct jt raw, schemas;
    struct jt_error je;
    if (jt_parse(bytes, (size_t)len, true, &raw, &je) != 0) {
        err_set(e, "describing the schema: unexpected answer from the server (line %d, column %d: %s)",
                je.line, je.col, je.msg);
        return SCHEMA_FAILED;
    }
    int rc = normalise(&raw, &schemas);
    jt_free(&raw);
    if (rc) {
        jt_free(&schemas);
        err_set(e, "describing the schema: unexpected answer from the server");
        return SCHEMA_FAILED;
    }
    *doc = jt_object();
    jt_add(doc, "format", jt_integer(SCHEMA_FORMAT));
    jt_add(doc, "postgresql", jt_integer(server / 10000));
    jt_add(doc, "schemas", schemas);
    jt_sort(doc);
    return SCHEMA_OK;
}

/* One round trip. Inside the gate's lock transaction the query runs in a
 * savepoint rolled back after it: that undoes its set_config (which would
 * otherwise outlive it) and leaves no catalog lock behind. */
enum schema_rc schema_describe(struct db *d, const struct strlist *names, const char *version_table,
                               bool enums, struct jt *doc, struct err *e)
{
    memset(doc, 0, sizeof *doc);
    int server = PQserverVersion(d->conn);
    if (server < SCHEMA_MIN_SERVER) {
        err_set(e, "describing the schema needs PostgreSQL 13 or later; this server is %s",
                PQparameterStatus(d->conn, "server_version"));
        return SCHEMA_FAILED;
    }
    bool in_tx = PQtransactionStatus(d->conn) == PQTRANS_INTRANS;
    char *arr = db_text_array((const char *const *)names->v, names->n);
    char *sql = xasprintf(DESCRIBE_SQL, enums ? ENUMS_SQL : "NULL");
    const char *params[2] = {arr, version_table};
    struct db_stmt s[3] = {
        {"SAVEPOINT sentry_schema", 0, NULL, NULL, 0},
        {sql, 2, params, NULL, 1},
        {"ROLLBACK TO SAVEPOINT sentry_schema", 0, NULL, NULL, 0},
    };
    enum dbq_rc q = in_tx ? db_run(d, s, 3, db_deadline(d), 1, e) : db_run(d, s + 1, 1, db_deadline(d), 1, e);
    PGresult *r = s[1].res;
    enum schema_rc rc;
    if (q != DBQ_OK || PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQnfields(r) != 1)
        rc = query_failed(d, q, r, e);
    else if (in_tx && !db_ok(s[2].res))
        rc = query_failed(d, q, s[2].res, e);
    else
        rc = answer(PQgetvalue(r, 0, 0), PQgetlength(r, 0, 0), server, doc, e);
    db_stmts_clear(s, 3);
    free(sql);
    free(arr);
    return rc;
}

char *schema_document(struct jt *doc, const struct strlist *alembic_version)
{
    struct jt a = jt_array();
    for (size_t i = 0; i < alembic_version->n; i++)
        jt_add(&a, NULL, jt_string(alembic_version->v[i]));
    jt_add(doc, "alembic_version", a);
    jt_sort(doc);
    return jt_render(doc);
}
