/* holoops.analyze._minecore: the per-line loops of template mining, in C.
 *
 * Optional accelerator for holoops/analyze/patterns.py: the pure-Python functions there are the
 * reference, and tests/test_patterns.py checks that both give identical results. Nothing here knows
 * about log formats; the masks (regexes) stay in Python/polars.
 *
 *   zero_factorize(lines) -> (codes: bytes of int64, distinct: list[str])
 *       every ASCII digit 1-9 read as 0; lines equal under that reading share a code; distinct lists
 *       the zeroed lines in first-seen order (codes index it). Raises TypeError for a non-str item.
 *   mask_digit_runs(lines) -> list[str]
 *       every run of ASCII digits replaced by "<*>": the default mask [0-9]+ without a regex engine.
 *   mask_tail(lines) -> list[str]
 *       the default masks after the digit runs (paths ... key=value), each with its regex's semantics.
 *   shapes(masked) -> list[tuple[str, ...]]
 *       str.split() of every line; a run of identical tokens holding "<*>" collapses to one token.
 *   group_shapes(shapes, min_distinct, key_tokens, same_kind) -> list[tuple[str, ...]]
 *       the template of every shape, by the rule of patterns._group_shapes (same_kind is its Python
 *       predicate, called for the few groups that the distinct-value count does not settle).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <ctype.h>
#include <string.h>

/* argument checks shared by the functions below: 0 when fine, -1 with a TypeError set */
static int want_list(PyObject *arg, const char *fn)
{
    if (PyList_Check(arg))
        return 0;
    PyErr_Format(PyExc_TypeError, "%s expects a list of str", fn);
    return -1;
}

static int want_str(PyObject *s, Py_ssize_t i)
{
    if (PyUnicode_Check(s))
        return 0;
    PyErr_Format(PyExc_TypeError, "item %zd is %.100s, not str", i, Py_TYPE(s)->tp_name);
    return -1;
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
#define MIX 0x9E3779B97F4A7C15ULL
#define MIX2 0xC2B2AE3D27D4EB4FULL

/* the bytes '1'..'9' of x turned into '0' (SWAR: the high bit of a byte b is set iff 0x30 < b < 0x3A,
 * exact for every byte value; clearing a digit's low nibble turns it into '0') */
static inline uint64_t zero_word(uint64_t x)
{
    const uint64_t low = x & (ONES * 127);
    const uint64_t sel = ((ONES * (127 + 0x3A)) - low) & ~x & (low + ONES * (127 - 0x30)) & HIGHS;
    return x & ~((sel >> 7) * 0x0F);
}

static inline uint64_t load_tail(const unsigned char *p, Py_ssize_t n)
{
    uint64_t w = 0;
    memcpy(&w, p, (size_t)n);
    return w;
}

static inline uint64_t finish(uint64_t h)
{
    h ^= h >> 32;
    h *= MIX;
    h ^= h >> 29;
    return h;
}

static inline Py_UCS4 zero_char(Py_UCS4 c) { return (c >= '1' && c <= '9') ? '0' : c; }

static uint64_t zeroed_hash(PyObject *s)
{
    const Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    const int kind = PyUnicode_KIND(s);
    uint64_t h = (uint64_t)n * MIX + (uint64_t)kind;
    if (kind == PyUnicode_1BYTE_KIND) {
        const unsigned char *p = PyUnicode_1BYTE_DATA(s);
        uint64_t g = MIX; /* two independent lanes: the multiplies overlap */
        Py_ssize_t i = 0;
        for (; i + 16 <= n; i += 16) {
            uint64_t w, v;
            memcpy(&w, p + i, 8);
            memcpy(&v, p + i + 8, 8);
            h = (h ^ zero_word(w)) * MIX;
            g = (g ^ zero_word(v)) * MIX2;
        }
        for (; i + 8 <= n; i += 8) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            h = (h ^ zero_word(w)) * MIX;
        }
        if (i < n)
            h = (h ^ zero_word(load_tail(p + i, n - i))) * MIX;
        h ^= (g >> 29) ^ (g << 17);
    }
    else {
        const void *d = PyUnicode_DATA(s);
        for (Py_ssize_t i = 0; i < n; i++) {
            h = (h ^ zero_char(PyUnicode_READ(kind, d, i))) * MIX;
            h ^= h >> 31;
        }
    }
    return finish(h);
}

/* does line s, read with zeroed digits, equal the (already zeroed) string z? */
static int zeroed_equal(PyObject *s, PyObject *z)
{
    const Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    const int kind = PyUnicode_KIND(s);
    if (n != PyUnicode_GET_LENGTH(z) || kind != PyUnicode_KIND(z))
        return 0;
    if (kind == PyUnicode_1BYTE_KIND) {
        const unsigned char *p = PyUnicode_1BYTE_DATA(s), *q = PyUnicode_1BYTE_DATA(z);
        Py_ssize_t i = 0;
        for (; i + 8 <= n; i += 8) {
            uint64_t a, b;
            memcpy(&a, p + i, 8);
            memcpy(&b, q + i, 8);
            if (zero_word(a) != b)
                return 0;
        }
        return i == n || zero_word(load_tail(p + i, n - i)) == load_tail(q + i, n - i);
    }
    const void *a = PyUnicode_DATA(s), *b = PyUnicode_DATA(z);
    for (Py_ssize_t i = 0; i < n; i++)
        if (zero_char(PyUnicode_READ(kind, a, i)) != PyUnicode_READ(kind, b, i))
            return 0;
    return 1;
}

static PyObject *zeroed_copy(PyObject *s)
{
    const Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    const int kind = PyUnicode_KIND(s);
    PyObject *z = PyUnicode_New(n, PyUnicode_MAX_CHAR_VALUE(s));
    if (z == NULL)
        return NULL;
    if (kind == PyUnicode_1BYTE_KIND) {
        const unsigned char *p = PyUnicode_1BYTE_DATA(s);
        unsigned char *q = PyUnicode_1BYTE_DATA(z);
        for (Py_ssize_t i = 0; i < n; i++)
            q[i] = (p[i] >= '1' && p[i] <= '9') ? '0' : p[i];
    }
    else {
        const void *a = PyUnicode_DATA(s);
        void *b = PyUnicode_DATA(z);
        for (Py_ssize_t i = 0; i < n; i++)
            PyUnicode_WRITE(kind, b, i, zero_char(PyUnicode_READ(kind, a, i)));
    }
    return z;
}

typedef struct {
    uint64_t hash;
    Py_ssize_t index; /* into distinct; -1: empty */
} slot_t;

static int grow(slot_t **table, size_t *cap)
{
    const size_t ncap = *cap * 2;
    slot_t *t = PyMem_Malloc(ncap * sizeof(slot_t));
    if (t == NULL)
        return -1;
    for (size_t i = 0; i < ncap; i++)
        t[i].index = -1;
    for (size_t i = 0; i < *cap; i++) {
        if ((*table)[i].index < 0)
            continue;
        size_t j = (size_t)(*table)[i].hash & (ncap - 1);
        while (t[j].index >= 0)
            j = (j + 1) & (ncap - 1);
        t[j] = (*table)[i];
    }
    PyMem_Free(*table);
    *table = t;
    *cap = ncap;
    return 0;
}

static PyObject *zero_factorize(PyObject *self, PyObject *arg)
{
    (void)self;
    if (want_list(arg, "zero_factorize") < 0)
        return NULL;
    const Py_ssize_t n = PyList_GET_SIZE(arg);
    PyObject *codes = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int64_t));
    PyObject *distinct = PyList_New(0);
    size_t cap = 1024;
    slot_t *table = PyMem_Malloc(cap * sizeof(slot_t));
    if (codes == NULL || distinct == NULL || table == NULL)
        goto fail;
    for (size_t i = 0; i < cap; i++)
        table[i].index = -1;
    int64_t *out = (int64_t *)PyBytes_AS_STRING(codes);
    Py_ssize_t count = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *s = PyList_GET_ITEM(arg, i);
        if (want_str(s, i) < 0)
            goto fail;
        const uint64_t h = zeroed_hash(s);
        size_t j = (size_t)h & (cap - 1);
        for (;;) {
            if (table[j].index < 0) {
                PyObject *z = zeroed_copy(s);
                if (z == NULL || PyList_Append(distinct, z) < 0) {
                    Py_XDECREF(z);
                    goto fail;
                }
                Py_DECREF(z);
                table[j].hash = h;
                table[j].index = count;
                out[i] = count++;
                if ((size_t)count * 2 > cap && grow(&table, &cap) < 0)
                    goto fail;
                break;
            }
            if (table[j].hash == h && zeroed_equal(s, PyList_GET_ITEM(distinct, table[j].index))) {
                out[i] = table[j].index;
                break;
            }
            j = (j + 1) & (cap - 1);
        }
    }
    PyMem_Free(table);
    return Py_BuildValue("(NN)", codes, distinct);
fail:
    PyMem_Free(table);
    Py_XDECREF(codes);
    Py_XDECREF(distinct);
    if (!PyErr_Occurred())
        PyErr_NoMemory();
    return NULL;
}


/* every maximal run of ASCII digits replaced by "<*>" (the regex [0-9]+ -> <*>) */
static PyObject *mask_digit_runs(PyObject *self, PyObject *arg)
{
    (void)self;
    if (want_list(arg, "mask_digit_runs") < 0)
        return NULL;
    const Py_ssize_t n = PyList_GET_SIZE(arg);
    PyObject *out = PyList_New(n);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *s = PyList_GET_ITEM(arg, i);
        if (want_str(s, i) < 0) {
            Py_DECREF(out);
            return NULL;
        }
        const Py_ssize_t len = PyUnicode_GET_LENGTH(s);
        const int kind = PyUnicode_KIND(s);
        const void *d = PyUnicode_DATA(s);
        Py_ssize_t digits = 0, runs = 0;
        for (Py_ssize_t k = 0; k < len; k++) {
            const Py_UCS4 c = PyUnicode_READ(kind, d, k);
            if (c >= '0' && c <= '9') {
                digits++;
                if (k == 0 || !(PyUnicode_READ(kind, d, k - 1) >= '0' && PyUnicode_READ(kind, d, k - 1) <= '9'))
                    runs++;
            }
        }
        PyObject *m;
        if (runs == 0) {
            m = s;
            Py_INCREF(m);
        }
        else {
            /* the kind's own maximum: digits are ASCII, so every other character keeps its kind valid */
            m = PyUnicode_New(len - digits + 3 * runs, PyUnicode_MAX_CHAR_VALUE(s));
            if (m == NULL) {
                Py_DECREF(out);
                return NULL;
            }
            void *o = PyUnicode_DATA(m);
            Py_ssize_t w = 0;
            for (Py_ssize_t k = 0; k < len; k++) {
                const Py_UCS4 c = PyUnicode_READ(kind, d, k);
                if (c >= '0' && c <= '9') {
                    if (k == 0 || !(PyUnicode_READ(kind, d, k - 1) >= '0' && PyUnicode_READ(kind, d, k - 1) <= '9')) {
                        PyUnicode_WRITE(kind, o, w++, '<');
                        PyUnicode_WRITE(kind, o, w++, '*');
                        PyUnicode_WRITE(kind, o, w++, '>');
                    }
                }
                else
                    PyUnicode_WRITE(kind, o, w++, c);
            }
        }
        PyList_SET_ITEM(out, i, m);
    }
    return out;
}

/* ---------------------------------------------------------------------------------------------- */
/* mask_tail: the default masks after the digit runs, in order, without a regex engine. Each function
 * below is one regex of patterns.DEFAULT_MASKS with Rust regex's replace_all semantics (leftmost-first,
 * non-overlapping, the next search starting where the last match ended); tests/test_patterns.py checks
 * them against polars on generated strings. Buffers hold code points. */

typedef struct {
    Py_UCS4 *p;
    Py_ssize_t n, cap;
} ubuf_t;

/* capacity is reserved before each pass (ub_reserve): no mask more than doubles a line (only
 * key=value can grow it: "=a" -> "=<*>"), so the writers need no checks */
static int ub_reserve(ubuf_t *b, Py_ssize_t need)
{
    if (need <= b->cap)
        return 0;
    Py_ssize_t cap = need > 2 * b->cap ? need : 2 * b->cap;
    Py_UCS4 *q = PyMem_Realloc(b->p, (size_t)cap * sizeof(Py_UCS4));
    if (q == NULL)
        return -1;
    b->p = q;
    b->cap = cap;
    return 0;
}

static inline int ub_put(ubuf_t *b, Py_UCS4 c)
{
    b->p[b->n++] = c;
    return 0;
}

static inline int ub_wild(ubuf_t *b)
{
    b->p[b->n] = '<';
    b->p[b->n + 1] = '*';
    b->p[b->n + 2] = '>';
    b->n += 3;
    return 0;
}

/* Unicode White_Space (Rust regex \s) */
static inline int is_space(Py_UCS4 c)
{
    return (c >= 9 && c <= 13) || c == 32 || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A)
           || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}
static inline int is_word(Py_UCS4 c) /* ASCII word character: (?-u:\b) */
{
    return c < 128 && (c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
}
static inline int is_hex(Py_UCS4 c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
static inline int wild_at(const Py_UCS4 *s, Py_ssize_t n, Py_ssize_t i)
{
    return i + 3 <= n && s[i] == '<' && s[i + 1] == '*' && s[i + 2] == '>';
}
/* ASCII word boundary after position j-1, i.e. between s[j-1] and s[j] (j > 0) */
static inline int boundary(const Py_UCS4 *s, Py_ssize_t n, Py_ssize_t j)
{
    const int left = j > 0 && is_word(s[j - 1]), right = j < n && is_word(s[j]);
    return left != right;
}

/* (^|[\s(\[=:,])(?:/[^\s/,;()\[\]]+){2,}/?  ->  ${1}<*> */
static inline int path_stop(Py_UCS4 c)
{
    return is_space(c) || c == '/' || c == ',' || c == ';' || c == '(' || c == ')' || c == '[' || c == ']';
}
static Py_ssize_t path_end(const Py_UCS4 *s, Py_ssize_t n, Py_ssize_t j) /* end of the segments, or -1 */
{
    int count = 0;
    while (j + 1 < n && s[j] == '/' && !path_stop(s[j + 1])) {
        j += 2;
        while (j < n && !path_stop(s[j]))
            j++;
        count++;
    }
    if (count < 2)
        return -1;
    return (j < n && s[j] == '/') ? j + 1 : j;
}
static int m_paths(const Py_UCS4 *s, Py_ssize_t n, ubuf_t *o)
{
    Py_ssize_t i = 0;
    while (i < n) {
        Py_ssize_t e;
        if (i == 0 && (e = path_end(s, n, 0)) >= 0) {
            if (ub_wild(o))
                return -1;
            i = e;
            continue;
        }
        const Py_UCS4 c = s[i];
        if ((is_space(c) || c == '(' || c == '[' || c == '=' || c == ':' || c == ',') && (e = path_end(s, n, i + 1)) >= 0) {
            if (ub_put(o, c) || ub_wild(o))
                return -1;
            i = e;
            continue;
        }
        if (ub_put(o, c))
            return -1;
        i++;
    }
    return 0;
}

/* <\*>(?:[0-9a-fA-F]*<\*>)*[0-9a-fA-F]+\b  ->  <*> */
static Py_ssize_t hex_tail_end(const Py_UCS4 *s, Py_ssize_t n, Py_ssize_t i)
{
    /* The group's repetitions are forced (hex runs can't hold '<'), so the match ends after the [hex]+
     * run at the last repetition where one is non-empty and followed by a boundary. Every run that a
     * further "<*>" follows has a boundary (word char, then '<'), so: the final run if it qualifies,
     * else the last earlier non-empty run. */
    Py_ssize_t j = i + 3, best = -1;
    for (;;) {
        Py_ssize_t k = j;
        while (k < n && is_hex(s[k]))
            k++;
        if (!wild_at(s, n, k))
            return (k > j && boundary(s, n, k)) ? k : best;
        if (k > j)
            best = k;
        j = k + 3;
    }
}
/* every match of a pattern that starts with "<*>" (``end`` gives the match's end, or -1) becomes "<*>" */
typedef Py_ssize_t (*end_fn)(const Py_UCS4 *, Py_ssize_t, Py_ssize_t);
static int replace_from_wild(const Py_UCS4 *s, Py_ssize_t n, ubuf_t *o, end_fn end)
{
    Py_ssize_t i = 0;
    while (i < n) {
        Py_ssize_t e;
        if (wild_at(s, n, i) && (e = end(s, n, i)) >= 0) {
            ub_wild(o);
            i = e;
            continue;
        }
        ub_put(o, s[i++]);
    }
    return 0;
}
static int m_hex_tail(const Py_UCS4 *s, Py_ssize_t n, ubuf_t *o) { return replace_from_wild(s, n, o, hex_tail_end); }

/* <\*> ?(?:[KMGTPE]i?B|B|bytes)\b|<\*>(?:[KMGTPE]|ns|us|µs|ms|s|m|h|d)\b  ->  <*> */
static inline int lit_at(const Py_UCS4 *s, Py_ssize_t n, Py_ssize_t j, const char *lit)
{
    for (Py_ssize_t k = 0; lit[k]; k++)
        if (j + k >= n || s[j + k] != (Py_UCS4)(unsigned char)lit[k])
            return 0;
    return 1;
}
static inline int is_prefix_unit(Py_UCS4 c) { return c == 'K' || c == 'M' || c == 'G' || c == 'T' || c == 'P' || c == 'E'; }
static Py_ssize_t size_unit_end(const Py_UCS4 *s, Py_ssize_t n, Py_ssize_t j) /* (?:[KMGTPE]i?B|B|bytes)\b */
{
    if (j < n && is_prefix_unit(s[j])) {
        if (j + 2 < n && s[j + 1] == 'i' && s[j + 2] == 'B' && boundary(s, n, j + 3))
            return j + 3;
        if (j + 1 < n && s[j + 1] == 'B' && boundary(s, n, j + 2))
            return j + 2;
    }
    if (j < n && s[j] == 'B' && boundary(s, n, j + 1))
        return j + 1;
    if (lit_at(s, n, j, "bytes") && boundary(s, n, j + 5))
        return j + 5;
    return -1;
}
static Py_ssize_t units_end(const Py_UCS4 *s, Py_ssize_t n, Py_ssize_t i)
{
    Py_ssize_t j = i + 3, e;
    if (j < n && s[j] == ' ' && (e = size_unit_end(s, n, j + 1)) >= 0)
        return e;
    if ((e = size_unit_end(s, n, j)) >= 0)
        return e;
    if (j < n && is_prefix_unit(s[j]) && boundary(s, n, j + 1))
        return j + 1;
    static const Py_UCS4 two[][2] = {{'n', 's'}, {'u', 's'}, {0xB5, 's'}, {'m', 's'}};
    for (int k = 0; k < 4; k++)
        if (j + 1 < n && s[j] == two[k][0] && s[j + 1] == two[k][1] && boundary(s, n, j + 2))
            return j + 2;
    if (j < n && (s[j] == 's' || s[j] == 'm' || s[j] == 'h' || s[j] == 'd') && boundary(s, n, j + 1))
        return j + 1;
    return -1;
}
static int m_units(const Py_UCS4 *s, Py_ssize_t n, ubuf_t *o) { return replace_from_wild(s, n, o, units_end); }

/* (^|[^A-Za-z0-9<])[-+]<\*>  ->  ${1}<*> */
static int m_sign(const Py_UCS4 *s, Py_ssize_t n, ubuf_t *o)
{
    Py_ssize_t i = 0;
    while (i < n) {
        if (i == 0 && (s[0] == '-' || s[0] == '+') && wild_at(s, n, 1)) {
            if (ub_wild(o))
                return -1;
            i = 4;
            continue;
        }
        const Py_UCS4 c = s[i];
        const int other = !(c < 128 && (isalnum((int)c) || c == '<'));
        if (other && i + 1 < n && (s[i + 1] == '-' || s[i + 1] == '+') && wild_at(s, n, i + 2)) {
            if (ub_put(o, c) || ub_wild(o))
                return -1;
            i += 5;
            continue;
        }
        if (ub_put(o, c))
            return -1;
        i++;
    }
    return 0;
}

/* <\*>(?:[.:/_,\-]*<\*>)+  ->  <*> */
static inline int is_join(Py_UCS4 c) { return c == '.' || c == ':' || c == '/' || c == '_' || c == ',' || c == '-'; }
static Py_ssize_t joined_end(const Py_UCS4 *s, Py_ssize_t n, Py_ssize_t i)
{
    Py_ssize_t j = i + 3, end = -1;
    for (;;) { /* each repetition: a (maximal) run of joiners, then "<*>" */
        Py_ssize_t k = j;
        while (k < n && is_join(s[k]))
            k++;
        if (!wild_at(s, n, k))
            return end;
        j = end = k + 3;
    }
}
static int m_joined(const Py_UCS4 *s, Py_ssize_t n, ubuf_t *o) { return replace_from_wild(s, n, o, joined_end); }

/* =[^\s,;)\]]+  ->  =<*> */
static inline int kv_stop(Py_UCS4 c) { return is_space(c) || c == ',' || c == ';' || c == ')' || c == ']'; }
static int m_kv(const Py_UCS4 *s, Py_ssize_t n, ubuf_t *o)
{
    Py_ssize_t i = 0;
    while (i < n) {
        if (s[i] == '=' && i + 1 < n && !kv_stop(s[i + 1])) {
            Py_ssize_t j = i + 1;
            while (j < n && !kv_stop(s[j]))
                j++;
            if (ub_put(o, '=') || ub_wild(o))
                return -1;
            i = j;
            continue;
        }
        if (ub_put(o, s[i++]))
            return -1;
    }
    return 0;
}

/* a str from code points; no mask adds a character wider than the input's kind allows ('<', '*', '>') */
static PyObject *to_str(const Py_UCS4 *p, Py_ssize_t n, int kind)
{
    if (kind != PyUnicode_1BYTE_KIND)
        return PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, n ? (const void *)p : (const void *)"", n);
    Py_UCS4 mx = 0;
    for (Py_ssize_t k = 0; k < n; k++)
        mx |= p[k];
    PyObject *r = PyUnicode_New(n, mx < 128 ? 127 : 255);
    if (r == NULL)
        return NULL;
    Py_UCS1 *q = PyUnicode_1BYTE_DATA(r);
    for (Py_ssize_t k = 0; k < n; k++)
        q[k] = (Py_UCS1)p[k];
    return r;
}

typedef int (*mask_fn)(const Py_UCS4 *, Py_ssize_t, ubuf_t *);
static const mask_fn TAIL[] = {m_paths, m_hex_tail, m_units, m_sign, m_joined, m_kv};

static PyObject *mask_tail(PyObject *self, PyObject *arg)
{
    (void)self;
    if (want_list(arg, "mask_tail") < 0)
        return NULL;
    const Py_ssize_t n = PyList_GET_SIZE(arg);
    PyObject *out = PyList_New(n);
    ubuf_t a = {NULL, 0, 0}, b = {NULL, 0, 0};
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *s = PyList_GET_ITEM(arg, i);
        if (want_str(s, i) < 0)
            goto fail;
        const Py_ssize_t len = PyUnicode_GET_LENGTH(s);
        const int kind = PyUnicode_KIND(s);
        const void *d = PyUnicode_DATA(s);
        if (ub_reserve(&a, 2 * len + 8))
            goto nomem;
        a.n = 0;
        for (Py_ssize_t k = 0; k < len; k++)
            a.p[a.n++] = PyUnicode_READ(kind, d, k);
        int has_slash = 0, has_eq = 0;
        for (Py_ssize_t k = 0; k < a.n; k++) {
            has_slash |= a.p[k] == '/';
            has_eq |= a.p[k] == '=';
        }
        for (size_t m = 0; m < sizeof(TAIL) / sizeof(TAIL[0]); m++) {
            /* a pass that cannot match leaves the line as it is: paths need '/', key=value '=', the
             * others a "<*>" (any '<' will do as the test) */
            if ((TAIL[m] == m_paths && !has_slash) || (TAIL[m] == m_kv && !has_eq))
                continue;
            if (TAIL[m] != m_paths && TAIL[m] != m_kv) {
                int lt = 0;
                for (Py_ssize_t k = 0; k < a.n && !lt; k++)
                    lt = a.p[k] == '<';
                if (!lt)
                    continue;
            }
            b.n = 0;
            if (ub_reserve(&b, 2 * a.n + 8) || TAIL[m](a.p, a.n, &b))
                goto nomem;
            ubuf_t t = a;
            a = b;
            b = t;
        }
        PyObject *r = to_str(a.p, a.n, kind);
        if (r == NULL)
            goto fail;
        PyList_SET_ITEM(out, i, r);
    }
    PyMem_Free(a.p);
    PyMem_Free(b.p);
    return out;
nomem:
    PyErr_NoMemory();
fail:
    PyMem_Free(a.p);
    PyMem_Free(b.p);
    Py_DECREF(out);
    return NULL;
}

static PyObject *WILD; /* "<*>" */

static PyObject *shapes(PyObject *self, PyObject *arg)
{
    (void)self;
    if (want_list(arg, "shapes") < 0)
        return NULL;
    const Py_ssize_t n = PyList_GET_SIZE(arg);
    PyObject *result = PyList_New(n);
    if (result == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *s = PyList_GET_ITEM(arg, i);
        if (want_str(s, i) < 0)
            goto fail;
        PyObject *toks = PyUnicode_Split(s, NULL, -1);
        if (toks == NULL)
            goto fail;
        const Py_ssize_t m = PyList_GET_SIZE(toks);
        PyObject *shape = NULL;
        int collapse = 0;
        if (m > 1) {
            const Py_ssize_t at = PyUnicode_Find(s, WILD, 0, PyUnicode_GET_LENGTH(s), 1);
            if (at == -2) {
                Py_DECREF(toks);
                goto fail;
            }
            if (at >= 0) {
                for (Py_ssize_t k = 1; k < m && !collapse; k++) {
                    const int eq = PyUnicode_Compare(PyList_GET_ITEM(toks, k), PyList_GET_ITEM(toks, k - 1)) == 0;
                    collapse = eq && PyUnicode_Contains(PyList_GET_ITEM(toks, k), WILD) == 1;
                }
            }
        }
        if (collapse) { /* out[-1] always equals the previous token, so compare with that */
            PyObject *kept = PyList_New(0);
            if (kept == NULL) {
                Py_DECREF(toks);
                goto fail;
            }
            for (Py_ssize_t k = 0; k < m; k++) {
                PyObject *t = PyList_GET_ITEM(toks, k);
                if (k > 0 && PyUnicode_Compare(t, PyList_GET_ITEM(toks, k - 1)) == 0
                    && PyUnicode_Contains(t, WILD) == 1)
                    continue;
                if (PyList_Append(kept, t) < 0) {
                    Py_DECREF(kept);
                    Py_DECREF(toks);
                    goto fail;
                }
            }
            shape = PyList_AsTuple(kept);
            Py_DECREF(kept);
        }
        else
            shape = PyList_AsTuple(toks);
        Py_DECREF(toks);
        if (shape == NULL)
            goto fail;
        PyList_SET_ITEM(result, i, shape);
    }
    return result;
fail:
    Py_DECREF(result);
    return NULL;
}


/* ---------------------------------------------------------------------------------------------- */
/* group_shapes: the C twin of patterns._group_shapes (see its docstring for the rule). */

typedef struct {
    uint64_t key;
    Py_ssize_t r;
} keyrow_t;

static int cmp_keyrow(const void *a, const void *b)
{
    const keyrow_t *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return (x->r > y->r) - (x->r < y->r);
}

/* rows a and b (tuples of n str) equal at every position but p? 1/0, -1 on error */
static int equal_off(PyObject *a, PyObject *b, Py_ssize_t n, Py_ssize_t p)
{
    for (Py_ssize_t q = 0; q < n; q++) {
        if (q == p)
            continue;
        PyObject *x = PyTuple_GET_ITEM(a, q), *y = PyTuple_GET_ITEM(b, q);
        if (x == y)
            continue;
        const int eq = PyObject_RichCompareBool(x, y, Py_EQ);
        if (eq <= 0)
            return eq;
    }
    return 1;
}

typedef struct {
    PyObject *rows;  /* list of tuples, owned */
    Py_ssize_t n;    /* tokens per row */
    uint64_t *th;    /* token hashes, R * n */
    uint64_t *tot;   /* per-row sum of token hashes */
} class_t;

static int class_hash(class_t *c)
{
    const Py_ssize_t R = PyList_GET_SIZE(c->rows), n = c->n;
    PyMem_Free(c->th);
    PyMem_Free(c->tot);
    c->th = PyMem_Malloc((size_t)(R * n + 1) * sizeof(uint64_t));
    c->tot = PyMem_Malloc((size_t)(R + 1) * sizeof(uint64_t));
    if (c->th == NULL || c->tot == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t r = 0; r < R; r++) {
        PyObject *row = PyList_GET_ITEM(c->rows, r);
        uint64_t t = 0;
        for (Py_ssize_t q = 0; q < n; q++) {
            const Py_hash_t h = PyObject_Hash(PyTuple_GET_ITEM(row, q));
            if (h == -1 && PyErr_Occurred())
                return -1;
            c->th[r * n + q] = (uint64_t)h;
            t += (uint64_t)h;
        }
        c->tot[r] = t;
    }
    return 0;
}

/* decide one group of rows (indices members[0..m)) at position p; on merge, record repl and append the
 * merged row to add and mark members in drop. Returns 0/1 (merged) or -1 on error. */
static int decide(class_t *c, Py_ssize_t p, const Py_ssize_t *members, Py_ssize_t m, Py_ssize_t min_distinct,
                  Py_ssize_t key_tokens, PyObject *same_kind, PyObject *repl, PyObject *add, char *drop)
{
    PyObject *values = PySet_New(NULL);
    if (values == NULL)
        return -1;
    for (Py_ssize_t i = 0; i < m; i++)
        if (PySet_Add(values, PyTuple_GET_ITEM(PyList_GET_ITEM(c->rows, members[i]), p)) < 0)
            goto error;
    int ok;
    if (p < key_tokens) {
        const int wild = PySet_Contains(values, WILD);
        if (wild < 0)
            goto error;
        ok = 0;
        if (!wild) {
            PyObject *res = PyObject_CallOneArg(same_kind, values);
            if (res == NULL)
                goto error;
            ok = PyObject_IsTrue(res);
            Py_DECREF(res);
        }
    }
    else if (PySet_GET_SIZE(values) >= min_distinct)
        ok = 1;
    else {
        PyObject *res = PyObject_CallOneArg(same_kind, values);
        if (res == NULL)
            goto error;
        ok = PyObject_IsTrue(res);
        Py_DECREF(res);
    }
    Py_DECREF(values);
    if (ok <= 0)
        return ok;
    PyObject *first = PyList_GET_ITEM(c->rows, members[0]);
    PyObject *merged = PyTuple_New(c->n);
    if (merged == NULL)
        return -1;
    for (Py_ssize_t q = 0; q < c->n; q++) {
        PyObject *t = q == p ? WILD : PyTuple_GET_ITEM(first, q);
        Py_INCREF(t);
        PyTuple_SET_ITEM(merged, q, t);
    }
    for (Py_ssize_t i = 0; i < m; i++) {
        PyObject *row = PyList_GET_ITEM(c->rows, members[i]);
        const int same = PyObject_RichCompareBool(row, merged, Py_EQ);
        if (same < 0 || (!same && PyDict_SetItem(repl, row, merged) < 0)) {
            Py_DECREF(merged);
            return -1;
        }
        drop[members[i]] = 1;
    }
    const int rc = PyList_Append(add, merged);
    Py_DECREF(merged);
    return rc < 0 ? -1 : 1;
error:
    Py_DECREF(values);
    return -1;
}

/* group one class of rows of equal length until nothing changes; merges go into repl */
static int group_class(class_t *c, Py_ssize_t min_distinct, Py_ssize_t key_tokens, PyObject *same_kind,
                       PyObject *repl)
{
    const Py_ssize_t n = c->n;
    long *stamp = PyMem_Calloc((size_t)n + 1, sizeof(long)), *seen = PyMem_Malloc(((size_t)n + 1) * sizeof(long));
    keyrow_t *kr = NULL;
    Py_ssize_t *members = NULL;
    char *drop = NULL;
    int rc = -1;
    if (stamp == NULL || seen == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t q = 0; q < n; q++)
        seen[q] = -1;
    if (class_hash(c) < 0)
        goto done;
    long version = 0;
    int changed = 1;
    while (changed) {
        changed = 0;
        for (Py_ssize_t p = 0; p < n; p++) {
            if (seen[p] >= 0) {
                long mx = -1;
                for (Py_ssize_t q = 0; q < n; q++)
                    if (q != p && stamp[q] > mx)
                        mx = stamp[q];
                if (mx <= seen[p])
                    continue;
            }
            seen[p] = version;
            const Py_ssize_t R = PyList_GET_SIZE(c->rows);
            PyMem_Free(kr);
            PyMem_Free(members);
            PyMem_Free(drop);
            kr = PyMem_Malloc((size_t)R * sizeof(keyrow_t));
            members = PyMem_Malloc((size_t)R * sizeof(Py_ssize_t));
            drop = PyMem_Calloc((size_t)R, 1);
            if (kr == NULL || members == NULL || drop == NULL) {
                PyErr_NoMemory();
                goto done;
            }
            for (Py_ssize_t r = 0; r < R; r++) {
                kr[r].key = c->tot[r] - c->th[r * n + p];
                kr[r].r = r;
            }
            qsort(kr, (size_t)R, sizeof(keyrow_t), cmp_keyrow);
            PyObject *add = PyList_New(0);
            if (add == NULL)
                goto done;
            for (Py_ssize_t a = 0; a < R;) {
                Py_ssize_t b = a + 1;
                while (b < R && kr[b].key == kr[a].key)
                    b++;
                /* rows a..b share the hash key: split them into exact groups (collisions only merge keys) */
                for (Py_ssize_t i = a; b - a > 1 && i < b; i++) {
                    if (kr[i].r < 0)
                        continue;
                    Py_ssize_t m = 0;
                    members[m++] = kr[i].r;
                    PyObject *head = PyList_GET_ITEM(c->rows, kr[i].r);
                    for (Py_ssize_t j = i + 1; j < b; j++) {
                        if (kr[j].r < 0)
                            continue;
                        const int eq = equal_off(head, PyList_GET_ITEM(c->rows, kr[j].r), n, p);
                        if (eq < 0) {
                            Py_DECREF(add);
                            goto done;
                        }
                        if (eq) {
                            members[m++] = kr[j].r;
                            kr[j].r = -1;
                        }
                    }
                    kr[i].r = -1;
                    if (m > 1 && decide(c, p, members, m, min_distinct, key_tokens, same_kind, repl, add, drop) < 0) {
                        Py_DECREF(add);
                        goto done;
                    }
                }
                a = b;
            }
            if (PyList_GET_SIZE(add) > 0) {
                PyObject *rows = PyList_New(0);
                if (rows == NULL) {
                    Py_DECREF(add);
                    goto done;
                }
                for (Py_ssize_t r = 0; r < R; r++)
                    if (!drop[r] && PyList_Append(rows, PyList_GET_ITEM(c->rows, r)) < 0) {
                        Py_DECREF(rows);
                        Py_DECREF(add);
                        goto done;
                    }
                for (Py_ssize_t i = 0; i < PyList_GET_SIZE(add); i++)
                    if (PyList_Append(rows, PyList_GET_ITEM(add, i)) < 0) {
                        Py_DECREF(rows);
                        Py_DECREF(add);
                        goto done;
                    }
                Py_SETREF(c->rows, rows);
                if (class_hash(c) < 0) {
                    Py_DECREF(add);
                    goto done;
                }
                version++;
                stamp[p] = version;
                changed = 1;
            }
            Py_DECREF(add);
        }
    }
    rc = 0;
done:
    PyMem_Free(stamp);
    PyMem_Free(seen);
    PyMem_Free(kr);
    PyMem_Free(members);
    PyMem_Free(drop);
    return rc;
}

static PyObject *group_shapes(PyObject *self, PyObject *args)
{
    PyObject *shapes_list, *same_kind;
    Py_ssize_t min_distinct, key_tokens;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!nnO:group_shapes", &PyList_Type, &shapes_list, &min_distinct, &key_tokens,
                          &same_kind))
        return NULL;
    if (key_tokens < 0)
        key_tokens = 0;
    const Py_ssize_t n = PyList_GET_SIZE(shapes_list);
    PyObject *by_len = PyDict_New(), *seen = PyDict_New(), *repl = PyDict_New(), *out = NULL;
    if (by_len == NULL || seen == NULL || repl == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < n; i++) { /* distinct shapes by length, first-seen order */
        PyObject *sh = PyList_GET_ITEM(shapes_list, i);
        if (!PyTuple_Check(sh)) {
            PyErr_Format(PyExc_TypeError, "shape %zd is %.100s, not tuple", i, Py_TYPE(sh)->tp_name);
            goto done;
        }
        const int known = PyDict_Contains(seen, sh);
        if (known < 0 || (!known && PyDict_SetItem(seen, sh, Py_None) < 0))
            goto done;
        if (known)
            continue;
        PyObject *len = PyLong_FromSsize_t(PyTuple_GET_SIZE(sh));
        if (len == NULL)
            goto done;
        PyObject *rows = PyDict_GetItemWithError(by_len, len);
        if (rows == NULL) {
            if (PyErr_Occurred() || (rows = PyList_New(0)) == NULL || PyDict_SetItem(by_len, len, rows) < 0) {
                Py_XDECREF(rows);
                Py_DECREF(len);
                goto done;
            }
            Py_DECREF(rows); /* the dict holds it */
        }
        Py_DECREF(len);
        if (PyList_Append(rows, sh) < 0)
            goto done;
    }
    PyObject *len, *rows;
    Py_ssize_t pos = 0;
    while (PyDict_Next(by_len, &pos, &len, &rows)) {
        if (PyList_GET_SIZE(rows) < 2)
            continue;
        class_t c = {NULL, PyLong_AsSsize_t(len), NULL, NULL};
        c.rows = PyList_GetSlice(rows, 0, PyList_GET_SIZE(rows));
        if (c.rows == NULL)
            goto done;
        const int rc = group_class(&c, min_distinct, key_tokens, same_kind, repl);
        Py_DECREF(c.rows);
        PyMem_Free(c.th);
        PyMem_Free(c.tot);
        if (rc < 0)
            goto done;
    }
    out = PyList_New(n);
    if (out == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *sh = PyList_GET_ITEM(shapes_list, i), *next;
        while ((next = PyDict_GetItemWithError(repl, sh)) != NULL)
            sh = next;
        if (PyErr_Occurred()) {
            Py_CLEAR(out);
            goto done;
        }
        Py_INCREF(sh);
        PyList_SET_ITEM(out, i, sh);
    }
done:
    Py_XDECREF(by_len);
    Py_XDECREF(seen);
    Py_XDECREF(repl);
    return out;
}

static PyMethodDef methods[] = {
    {"zero_factorize", zero_factorize, METH_O,
     "zero_factorize(lines) -> (codes, distinct): lines deduplicated with every digit read as 0; codes is "
     "the int64 code of every line (bytes), distinct the zeroed lines in first-seen order."},
    {"shapes", shapes, METH_O,
     "shapes(masked) -> list of token tuples (str.split()), runs of identical '<*>' tokens collapsed."},
    {"mask_digit_runs", mask_digit_runs, METH_O,
     "mask_digit_runs(lines) -> lines with every run of ASCII digits replaced by '<*>' (regex [0-9]+)."},
    {"mask_tail", mask_tail, METH_O,
     "mask_tail(lines) -> lines with the default masks after the digit runs applied in order (paths, hex "
     "tails, units, signs, joined masks, key=value values), with the regexes' replace_all semantics."},
    {"group_shapes", group_shapes, METH_VARARGS,
     "group_shapes(shapes, min_distinct, key_tokens, same_kind) -> the template tuple of every shape."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_minecore", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__minecore(void)
{
    WILD = PyUnicode_InternFromString("<*>");
    if (WILD == NULL)
        return NULL;
    return PyModule_Create(&module);
}
