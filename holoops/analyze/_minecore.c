/* holoops.analyze._minecore: the per-line loops of template mining, in C.
 *
 * Optional accelerator for holoops/analyze/patterns.py: the pure-Python functions there are the
 * reference, and tests/test_patterns.py checks that both give identical results. Nothing here knows
 * about log formats.
 *
 *   zero_factorize(lines) -> (codes: bytes of int64, distinct: list[str])
 *       every ASCII digit 1-9 read as 0; lines equal under that reading share a code; distinct lists
 *       the zeroed lines in first-seen order (codes index it). Raises TypeError for a non-str item.
 *   mask_digit_runs(lines) -> list[str]
 *       every run of ASCII digits replaced by "<*>": the default mask [0-9]+ without a regex engine.
 *   mask_tail(lines) -> list[str]
 *       the default masks after the digit runs (paths ... key=value), each with its regex's semantics.
 *   mask_ident(lines) -> list[str]
 *       the identifier regex (URLs, UUIDs, hex, IPv4, MACs, dates, e-mail, Windows/UNC paths), likewise.
 *   group_lines(masked, weights, min_distinct, first_token_max, pair_ratio, pair_repeat)
 *       -> (codes: bytes of int64, templates)
 *       patterns._shapes + patterns._group_shapes + factorizing the template strings, in one pass.
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

/* (^|[\s(\[=:,])(?:[^\s/,;()\[\]=:]+)?(?:/[^\s/,;()\[\]]+){2,}/?  ->  ${1}<*> */
static inline int path_stop(Py_UCS4 c)
{
    return is_space(c) || c == '/' || c == ',' || c == ';' || c == '(' || c == ')' || c == '[' || c == ']';
}
static Py_ssize_t path_end(const Py_UCS4 *s, Py_ssize_t n, Py_ssize_t j) /* end of the segments, or -1 */
{
    /* the optional relative first segment: greedy, and no shorter one can be followed by '/' (a segment
     * never holds one), so only the longest is tried; without it the slashes start at j */
    while (j < n && !path_stop(s[j]) && s[j] != '=' && s[j] != ':')
        j++;
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

/* =[^\s,;)\]|&]+  ->  =<*> */
static inline int kv_stop(Py_UCS4 c)
{
    return is_space(c) || c == ',' || c == ';' || c == ')' || c == ']' || c == '|' || c == '&';
}
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

/* ---------------------------------------------------------------------------------------------- */
/* mask_ident: the identifier regex (patterns.DEFAULT_MASKS[0]) with Rust regex's replace_all semantics,
 * without a regex engine: at each position from the left, the alternatives are tried in their order and
 * the first that matches there wins (leftmost-first), each with the match a backtracking engine would
 * prefer; the next search starts where the match ended. Each function below is one alternative: the
 * end of its match at i, or -1. A repetition whose class cannot hold the character that must follow it
 * (a '@', "://", a boundary) only ever matches maximally, which is what makes these short. */

static inline int is_alpha(Py_UCS4 c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static inline int is_digit(Py_UCS4 c) { return c >= '0' && c <= '9'; }
static inline int is_alnum(Py_UCS4 c) { return is_alpha(c) || is_digit(c); }
static inline int is_lower(Py_UCS4 c) { return c >= 'a' && c <= 'z'; }
static inline Py_ssize_t hex_run(const Py_UCS4 *s, Py_ssize_t n, Py_ssize_t j)
{
    while (j < n && is_hex(s[j]))
        j++;
    return j;
}
static inline Py_ssize_t digit_run(const Py_UCS4 *s, Py_ssize_t n, Py_ssize_t j)
{
    while (j < n && is_digit(s[j]))
        j++;
    return j;
}

/* [A-Za-z][A-Za-z0-9+.\-]*://\S+ */
static Py_ssize_t id_url(const Py_UCS4 *s, Py_ssize_t n, Py_ssize_t i)
{
    if (!is_alpha(s[i]))
        return -1;
    Py_ssize_t j = i + 1;
    while (j < n && (is_alnum(s[j]) || s[j] == '+' || s[j] == '.' || s[j] == '-'))
        j++;
    if (!(j + 3 < n && s[j] == ':' && s[j + 1] == '/' && s[j + 2] == '/' && !is_space(s[j + 3])))
        return -1;
    j += 4;
    while (j < n && !is_space(s[j]))
        j++;
    return j;
}

/* [0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12} */
static Py_ssize_t id_uuid(const Py_UCS4 *s, Py_ssize_t n, Py_ssize_t i)
{
    static const int parts[5] = {8, 4, 4, 4, 12};
    Py_ssize_t j = i;
    for (int p = 0; p < 5; p++) {
        if (p > 0) {
            if (j >= n || s[j] != '-')
                return -1;
            j++;
        }
        for (int k = 0; k < parts[p]; k++, j++)
            if (j >= n || !is_hex(s[j]))
                return -1;
    }
    return j;
}

/* \b[0-9][xX][0-9a-fA-F]+\b */
static Py_ssize_t id_0x(const Py_UCS4 *s, Py_ssize_t n, Py_ssize_t i)
{
    if (!(is_digit(s[i]) && i + 2 < n && (s[i + 1] == 'x' || s[i + 1] == 'X') && is_hex(s[i + 2])
          && boundary(s, n, i)))
        return -1;
    const Py_ssize_t j = hex_run(s, n, i + 2);
    return boundary(s, n, j) ? j : -1;
}

/* \b(?:[0-9a-f]{12,}|[0-9A-F]{12,}|[a-fA-F][0-9a-fA-F]{7,})\b */
static Py_ssize_t id_hex(const Py_UCS4 *s, Py_ssize_t n, Py_ssize_t i)
{
    if (!is_hex(s[i]) || !boundary(s, n, i))
        return -1;
    Py_ssize_t j = i;
    while (j < n && (is_digit(s[j]) || (s[j] >= 'a' && s[j] <= 'f')))
        j++;
    if (j - i >= 12 && boundary(s, n, j))
        return j;
    j = i;
    while (j < n && (is_digit(s[j]) || (s[j] >= 'A' && s[j] <= 'F')))
        j++;
    if (j - i >= 12 && boundary(s, n, j))
        return j;
    if (is_digit(s[i]))
        return -1;
    j = hex_run(s, n, i + 1);
    return (j - i - 1 >= 7 && boundary(s, n, j)) ? j : -1;
}

/* \b[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?::[0-9]+)?\b */
static Py_ssize_t id_ipv4(const Py_UCS4 *s, Py_ssize_t n, Py_ssize_t i)
{
    if (!is_digit(s[i]) || !boundary(s, n, i))
        return -1;
    Py_ssize_t j = i;
    for (int oct = 0; oct < 4; oct++) {
        if (oct > 0) {
            if (j >= n || s[j] != '.')
                return -1;
            j++;
        }
        const Py_ssize_t e = digit_run(s, n, j);
        if (e == j || e - j > 3) /* a longer run leaves a digit where '.' or \b must follow */
            return -1;
        j = e;
    }
    if (j + 1 < n && s[j] == ':' && is_digit(s[j + 1])) {
        const Py_ssize_t e = digit_run(s, n, j + 1);
        if (boundary(s, n, e))
            return e;
    }
    return boundary(s, n, j) ? j : -1;
}

/* \b[0-9a-fA-F]{2}(?:[:\-][0-9a-fA-F]{2}){5}\b */
static Py_ssize_t id_mac(const Py_UCS4 *s, Py_ssize_t n, Py_ssize_t i)
{
    if (i + 17 > n || !boundary(s, n, i))
        return -1;
    for (int p = 0; p < 6; p++) {
        const Py_ssize_t j = i + 3 * p;
        if ((p > 0 && s[j - 1] != ':' && s[j - 1] != '-') || !is_hex(s[j]) || !is_hex(s[j + 1]))
            return -1;
    }
    return boundary(s, n, i + 17) ? i + 17 : -1;
}

/* \b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? +(?:Jan|...|Dec)[a-z]* +[0-9]{1,2}\b */
static inline int lit3(const Py_UCS4 *s, Py_ssize_t n, Py_ssize_t j, const char *const *words, int count)
{
    if (j + 3 > n)
        return 0;
    for (int w = 0; w < count; w++)
        if (s[j] == (Py_UCS4)words[w][0] && s[j + 1] == (Py_UCS4)words[w][1] && s[j + 2] == (Py_UCS4)words[w][2])
            return 1;
    return 0;
}
static Py_ssize_t id_date(const Py_UCS4 *s, Py_ssize_t n, Py_ssize_t i)
{
    static const char *const days[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    if (!lit3(s, n, i, days, 7) || !boundary(s, n, i))
        return -1;
    Py_ssize_t j = i + 3;
    while (j < n && is_lower(s[j]))
        j++;
    if (j < n && s[j] == ',')
        j++;
    if (j >= n || s[j] != ' ')
        return -1;
    while (j < n && s[j] == ' ')
        j++;
    if (!lit3(s, n, j, months, 12))
        return -1;
    j += 3;
    while (j < n && is_lower(s[j]))
        j++;
    if (j >= n || s[j] != ' ')
        return -1;
    while (j < n && s[j] == ' ')
        j++;
    const Py_ssize_t e = digit_run(s, n, j);
    return (e > j && e - j <= 2 && boundary(s, n, e)) ? e : -1;
}

/* [A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+ (local: the end of the local-part run at i) */
static inline int email_local(Py_UCS4 c)
{
    return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}
static inline int email_label(Py_UCS4 c) { return is_alnum(c) || c == '-'; }
static Py_ssize_t id_email_at(const Py_UCS4 *s, Py_ssize_t n, Py_ssize_t at) /* '@' at s[at] */
{
    Py_ssize_t j = at + 1;
    while (j < n && email_label(s[j]))
        j++;
    if (j == at + 1)
        return -1;
    int groups = 0;
    while (j + 1 < n && s[j] == '.' && email_label(s[j + 1])) {
        j += 2;
        while (j < n && email_label(s[j]))
            j++;
        groups++;
    }
    return groups ? j : -1;
}

/* \b[A-Za-z]:\\[^\s,;"'<>|]*  and  \\\\[^\s\\,;<>|]+\\[^\s,;"'<>|]* */
static inline int win_tail(Py_UCS4 c)
{
    return !is_space(c) && c != ',' && c != ';' && c != '"' && c != '\'' && c != '<' && c != '>' && c != '|';
}
static Py_ssize_t id_windows(const Py_UCS4 *s, Py_ssize_t n, Py_ssize_t i)
{
    if (!(is_alpha(s[i]) && i + 2 < n && s[i + 1] == ':' && s[i + 2] == '\\' && boundary(s, n, i)))
        return -1;
    Py_ssize_t j = i + 3;
    while (j < n && win_tail(s[j]))
        j++;
    return j;
}
static Py_ssize_t id_unc(const Py_UCS4 *s, Py_ssize_t n, Py_ssize_t i)
{
    if (!(s[i] == '\\' && i + 1 < n && s[i + 1] == '\\'))
        return -1;
    Py_ssize_t j = i + 2;
    while (j < n && win_tail(s[j]) && s[j] != '\\')
        j++;
    if (j == i + 2 || j >= n || s[j] != '\\')
        return -1;
    j++;
    while (j < n && win_tail(s[j]))
        j++;
    return j;
}

static int m_ident(const Py_UCS4 *s, Py_ssize_t n, ubuf_t *o)
{
    /* which alternatives can match anywhere in the line (cheap tests that skip most of them) */
    int url = 0, at = 0, bslash = 0, colon_bs = 0, x = 0, dash = 0, dot = 0, sep = 0, day = 0;
    for (Py_ssize_t k = 0; k < n; k++) {
        const Py_UCS4 c = s[k];
        if (c == ':') {
            sep = 1;
            url |= k + 2 < n && s[k + 1] == '/' && s[k + 2] == '/';
            colon_bs |= k + 1 < n && s[k + 1] == '\\';
        }
        else if (c == '-')
            dash = sep = 1;
        else if (c == '.')
            dot = 1;
        else if (c == '@')
            at = 1;
        else if (c == '\\')
            bslash = 1;
        else if (c == 'x' || c == 'X')
            x = 1;
        else if (c == 'M' || c == 'T' || c == 'W' || c == 'F' || c == 'S')
            day = 1;
    }
    Py_ssize_t email_fail = -1; /* positions before this: no e-mail match starts there */
    Py_ssize_t i = 0;
    while (i < n) {
        const Py_UCS4 c = s[i];
        Py_ssize_t e = -1;
        if (url && e < 0)
            e = id_url(s, n, i);
        if (e < 0 && dash && is_hex(c))
            e = id_uuid(s, n, i);
        if (e < 0 && x && is_digit(c))
            e = id_0x(s, n, i);
        if (e < 0 && is_hex(c))
            e = id_hex(s, n, i);
        if (e < 0 && dot && is_digit(c))
            e = id_ipv4(s, n, i);
        if (e < 0 && sep && is_hex(c))
            e = id_mac(s, n, i);
        if (e < 0 && day && (c == 'M' || c == 'T' || c == 'W' || c == 'F' || c == 'S'))
            e = id_date(s, n, i);
        if (e < 0 && at && i >= email_fail && email_local(c)) {
            Py_ssize_t j = i + 1;
            while (j < n && email_local(s[j]))
                j++;
            /* the same run end and outcome for every start inside the run */
            e = (j < n && s[j] == '@') ? id_email_at(s, n, j) : -1;
            if (e < 0)
                email_fail = j;
        }
        if (e < 0 && colon_bs)
            e = id_windows(s, n, i);
        if (e < 0 && bslash)
            e = id_unc(s, n, i);
        if (e >= 0) {
            ub_wild(o);
            i = e;
        }
        else
            ub_put(o, s[i++]);
    }
    return 0;
}

/* mask_ident(lines) -> list[str]: m_ident on every line */
static PyObject *mask_ident(PyObject *self, PyObject *arg)
{
    (void)self;
    if (want_list(arg, "mask_ident") < 0)
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
        if (ub_reserve(&a, len + 8) || ub_reserve(&b, 2 * len + 8))
            goto nomem;
        for (Py_ssize_t k = 0; k < len; k++)
            a.p[k] = PyUnicode_READ(kind, d, k);
        b.n = 0;
        m_ident(a.p, len, &b);
        PyObject *r;
        if (b.n == len && memcmp(a.p, b.p, sizeof(Py_UCS4) * (size_t)len) == 0) {
            r = s;
            Py_INCREF(r);
        }
        else if ((r = to_str(b.p, b.n, kind)) == NULL)
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

/* ---------------------------------------------------------------------------------------------- */
/* group_lines: the C twin of patterns._shapes + patterns._group_shapes (with patterns._split) + the
 * factorizing of the template strings, in one pass (see those docstrings for the rule). Each masked
 * line is tokenised (str.split() whitespace; a token holding "<*>" that equals the one before it is
 * dropped) and its tokens interned to dense ids by their code points, so everything after is integer
 * work: distinct rows, column frequencies, each row's key, the initial groups (hashed key vectors), then
 * an explicit stack of row segments that split by one column each. The result does not depend on the
 * order in which groups or segments are processed (a row's template depends only on the rows of its
 * final segment). Templates are id sequences too (a variable is the id of the token "<*>"), numbered in
 * the first-seen order of the lines and turned into strings at the end. */

typedef struct {
    int32_t *tok;        /* token ids of the distinct rows, row r at tok + off[r] */
    Py_ssize_t *off;
    Py_ssize_t *len;
    int64_t *weight;     /* per distinct row: the lines it stands for */
    char *wild;          /* per token id: the token is "<*>" */
    char *masked;        /* per token id: the token holds "<*>" */
    Py_ssize_t *stamp;   /* per token id: epoch of the last visit (distinct counting) */
    Py_ssize_t *slot;    /* per token id: part index during a split */
    Py_ssize_t epoch;
    uint64_t *pairs;     /* open-addressing set of (id, id) pairs */
    Py_ssize_t *pstamp;  /* its slots' epochs */
    Py_ssize_t pcap;
    int32_t wild_id;     /* id of the token "<*>" */
    int32_t *arena;      /* templates as id sequences */
    Py_ssize_t arena_n;
    Py_ssize_t *templ;   /* per distinct row: offset of its template in arena */
} gs_t;

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= MIX2;
    x ^= x >> 29;
    x *= MIX;
    x ^= x >> 32;
    return x;
}

/* distinct (a, b) pairs over rows[0..m) at columns p and q, counting stops once above limit */
static Py_ssize_t count_pairs(gs_t *g, const Py_ssize_t *rows, Py_ssize_t m, Py_ssize_t p, Py_ssize_t q,
                              double limit)
{
    const Py_ssize_t e = ++g->epoch, mask = g->pcap - 1;
    Py_ssize_t count = 0;
    for (Py_ssize_t i = 0; i < m; i++) {
        const int32_t *t = g->tok + g->off[rows[i]];
        const uint64_t key = ((uint64_t)(uint32_t)t[p] << 32) | (uint32_t)t[q];
        Py_ssize_t h = (Py_ssize_t)(mix64(key) & (uint64_t)mask);
        while (g->pstamp[h] == e && g->pairs[h] != key)
            h = (h + 1) & mask;
        if (g->pstamp[h] != e) {
            g->pstamp[h] = e;
            g->pairs[h] = key;
            if ((double)++count > limit)
                return count;
        }
    }
    return count;
}

typedef struct {
    Py_ssize_t start, m, node;
} seg_t;

typedef struct {
    Py_ssize_t parent, col; /* col -1: a group's root, whose fixed columns are its key's */
} node_t;

/* split the initial group rows[0..m) (equal at the columns where key >= 0) into templates */
static int split_group(gs_t *g, Py_ssize_t *rows, Py_ssize_t m, Py_ssize_t n, const int32_t *key,
                       Py_ssize_t min_distinct, Py_ssize_t first_max, double ratio, double repeat,
                       Py_ssize_t *scratch)
{
    int rc = -1;
    seg_t *stack = PyMem_Malloc(sizeof(seg_t) * (size_t)(m + 1));
    node_t *nodes = PyMem_Malloc(sizeof(node_t) * (size_t)(m + 1));
    char *fixed = PyMem_Malloc((size_t)n + 1);
    Py_ssize_t *dist = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(n + 1));
    Py_ssize_t *pd = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(n + 1));
    Py_ssize_t *pp = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(n + 1));
    Py_ssize_t *sizes = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(m + 1));
    if (stack == NULL || nodes == NULL || fixed == NULL || dist == NULL || pd == NULL || pp == NULL || sizes == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t top = 0, nn = 0;
    nodes[nn++] = (node_t){-1, -1};
    stack[top++] = (seg_t){0, m, 0};
    while (top > 0) {
        const seg_t sg = stack[--top];
        Py_ssize_t *seg = rows + sg.start;
        const Py_ssize_t sm = sg.m;
        for (Py_ssize_t p = 0; p < n; p++)
            fixed[p] = key[p] >= 0;
        for (Py_ssize_t v = sg.node; v >= 0; v = nodes[v].parent)
            if (nodes[v].col >= 0)
                fixed[nodes[v].col] = 1;
        Py_ssize_t best_d = -1, best_p = -1, np = 0;
        for (Py_ssize_t p = 0; p < n; p++) {
            dist[p] = 1;
            if (fixed[p] || sm == 1)
                continue;
            const Py_ssize_t e = ++g->epoch;
            Py_ssize_t d = 0, masked = 0;
            int bare = 0;
            for (Py_ssize_t i = 0; i < sm; i++) {
                const int32_t id = g->tok[g->off[seg[i]] + p];
                if (g->stamp[id] != e) {
                    g->stamp[id] = e;
                    d++;
                    bare |= g->wild[id];
                    masked += g->masked[id];
                }
            }
            dist[p] = d;
            if (d == 1 || bare)
                continue;
            if (masked == d || !((p == 0 && masked == 0 && d < first_max) || d < min_distinct)) {
                pd[np] = d;
                pp[np++] = p;
            }
            else if (best_d < 0 || d < best_d) {
                best_d = d;
                best_p = p;
            }
        }
        if (best_d < 0 && ratio > 0 && np > 1) {
            int64_t lines = 0;
            for (Py_ssize_t i = 0; i < sm; i++)
                lines += g->weight[seg[i]];
            for (Py_ssize_t i = 0; i < np; i++)
                for (Py_ssize_t j = i + 1; j < np; j++) {
                    const Py_ssize_t mm = pd[i] < pd[j] ? pd[i] : pd[j];
                    if (best_d >= 0 && mm >= best_d)
                        continue;
                    const double limit = ratio * (double)mm;
                    const Py_ssize_t pairs = count_pairs(g, seg, sm, pp[i], pp[j], limit);
                    if ((double)pairs <= limit && (double)lines >= repeat * (double)pairs) {
                        best_d = mm;
                        best_p = pd[i] <= pd[j] ? pp[i] : pp[j];
                    }
                }
        }
        if (best_d < 0) { /* one template: the constants, "<*>" where a column takes two or more values */
            const int32_t *first = g->tok + g->off[seg[0]];
            int32_t *t = g->arena + g->arena_n;
            for (Py_ssize_t p = 0; p < n; p++)
                t[p] = dist[p] == 1 ? first[p] : g->wild_id;
            for (Py_ssize_t i = 0; i < sm; i++)
                g->templ[seg[i]] = g->arena_n;
            g->arena_n += n;
            continue;
        }
        /* stable partition of the segment by the value at best_p, parts in first-seen order */
        const Py_ssize_t e = ++g->epoch;
        Py_ssize_t parts = 0;
        for (Py_ssize_t i = 0; i < sm; i++) {
            const int32_t id = g->tok[g->off[seg[i]] + best_p];
            if (g->stamp[id] != e) {
                g->stamp[id] = e;
                g->slot[id] = parts;
                sizes[parts++] = 0;
            }
            sizes[g->slot[id]]++;
        }
        Py_ssize_t acc = 0;
        for (Py_ssize_t k = 0; k < parts; k++) {
            const Py_ssize_t sz = sizes[k];
            sizes[k] = acc;
            stack[top++] = (seg_t){sg.start + acc, sz, nn};
            acc += sz;
        }
        nodes[nn++] = (node_t){sg.node, best_p};
        for (Py_ssize_t i = 0; i < sm; i++) {
            const int32_t id = g->tok[g->off[seg[i]] + best_p];
            scratch[sizes[g->slot[id]]++] = seg[i];
        }
        memcpy(seg, scratch, sizeof(Py_ssize_t) * (size_t)sm);
    }
    rc = 0;
done:
    PyMem_Free(stack);
    PyMem_Free(nodes);
    PyMem_Free(fixed);
    PyMem_Free(dist);
    PyMem_Free(pd);
    PyMem_Free(pp);
    PyMem_Free(sizes);
    return rc;
}

static int cmp_desc(const void *a, const void *b)
{
    const Py_ssize_t x = *(const Py_ssize_t *)a, y = *(const Py_ssize_t *)b;
    return (x < y) - (x > y);
}

/* group the distinct rows rows[0..R) of n tokens each (one length): frequencies, keys, initial groups,
 * then split_group on each */
static int group_length(gs_t *g, Py_ssize_t *rows, Py_ssize_t R, Py_ssize_t n, Py_ssize_t min_distinct,
                        Py_ssize_t first_max, double ratio, double repeat, Py_ssize_t *cnt)
{
    if (R == 1) { /* the row is its own template */
        if (n > 0)
            memcpy(g->arena + g->arena_n, g->tok + g->off[rows[0]], sizeof(int32_t) * (size_t)n);
        g->templ[rows[0]] = g->arena_n;
        g->arena_n += n;
        return 0;
    }
    int rc = -1;
    Py_ssize_t *freq = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(R * n + 1));
    int32_t *keys = PyMem_Malloc(sizeof(int32_t) * (size_t)(R * n + 1));
    Py_ssize_t *tmp = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(n + 1));
    Py_ssize_t cap = 1;
    while (cap < 2 * R)
        cap <<= 1;
    Py_ssize_t *table = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)cap); /* slot -> group (-1 empty) */
    Py_ssize_t *head = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)R);   /* group -> its first row's position */
    Py_ssize_t *gid = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)R);
    Py_ssize_t *gsize = PyMem_Calloc((size_t)R, sizeof(Py_ssize_t));
    Py_ssize_t *order = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)R);
    Py_ssize_t *scratch = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)R);
    if (freq == NULL || keys == NULL || tmp == NULL || table == NULL || head == NULL || gid == NULL || gsize == NULL
        || order == NULL || scratch == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    /* column frequencies: rows holding each token at each position (cnt is zero between uses) */
    for (Py_ssize_t p = 0; p < n; p++) {
        for (Py_ssize_t i = 0; i < R; i++)
            cnt[g->tok[g->off[rows[i]] + p]]++;
        for (Py_ssize_t i = 0; i < R; i++) {
            const int32_t id = g->tok[g->off[rows[i]] + p];
            freq[i * n + p] = g->wild[id] ? 0 : cnt[id];
        }
        for (Py_ssize_t i = 0; i < R; i++)
            cnt[g->tok[g->off[rows[i]] + p]] = 0;
    }
    for (Py_ssize_t s = 0; s < cap; s++)
        table[s] = -1;
    Py_ssize_t ngroups = 0;
    for (Py_ssize_t i = 0; i < R; i++) {
        const Py_ssize_t *f = freq + i * n;
        Py_ssize_t k = 0;
        for (Py_ssize_t p = 0; p < n; p++)
            if (f[p] > 0)
                tmp[k++] = f[p];
        qsort(tmp, (size_t)k, sizeof(Py_ssize_t), cmp_desc);
        Py_ssize_t topv = 0, topc = 0;
        for (Py_ssize_t a = 0; a < k;) {
            Py_ssize_t b = a + 1;
            while (b < k && tmp[b] == tmp[a])
                b++;
            if (b - a > topc) { /* descending values: a tie keeps the higher frequency */
                topc = b - a;
                topv = tmp[a];
            }
            a = b;
        }
        int32_t *kv = keys + i * n;
        const int32_t *t = g->tok + g->off[rows[i]];
        uint64_t h = MIX;
        for (Py_ssize_t p = 0; p < n; p++) {
            kv[p] = (topc > 0 && f[p] == topv) ? t[p] : -1;
            h = (h ^ (uint64_t)(uint32_t)kv[p]) * MIX2;
        }
        Py_ssize_t s = (Py_ssize_t)(mix64(h) & (uint64_t)(cap - 1));
        while (table[s] >= 0 && memcmp(keys + head[table[s]] * n, kv, sizeof(int32_t) * (size_t)n) != 0)
            s = (s + 1) & (cap - 1);
        if (table[s] < 0) {
            table[s] = ngroups;
            head[ngroups++] = i;
        }
        gid[i] = table[s];
        gsize[gid[i]]++;
    }
    /* rows of each group contiguous, groups in first-seen order */
    Py_ssize_t acc = 0;
    for (Py_ssize_t q = 0; q < ngroups; q++) {
        const Py_ssize_t sz = gsize[q];
        gsize[q] = acc;
        acc += sz;
    }
    for (Py_ssize_t i = 0; i < R; i++)
        order[gsize[gid[i]]++] = rows[i];
    Py_ssize_t start = 0;
    for (Py_ssize_t q = 0; q < ngroups; q++) {
        const Py_ssize_t end = gsize[q];
        if (split_group(g, order + start, end - start, n, keys + head[q] * n, min_distinct, first_max, ratio,
                        repeat, scratch) < 0)
            goto done;
        start = end;
    }
    rc = 0;
done:
    PyMem_Free(freq);
    PyMem_Free(keys);
    PyMem_Free(tmp);
    PyMem_Free(table);
    PyMem_Free(head);
    PyMem_Free(gid);
    PyMem_Free(gsize);
    PyMem_Free(order);
    PyMem_Free(scratch);
    return rc;
}

static int cmp_len_idx(const void *a, const void *b)
{
    const Py_ssize_t *x = a, *y = b; /* (len, index) pairs */
    if (x[0] != y[0])
        return x[0] < y[0] ? -1 : 1;
    return (x[1] > y[1]) - (x[1] < y[1]);
}

/* a growable open-addressing table from a hash to an index (-1: empty); the caller compares keys */
typedef struct {
    uint64_t *hash;
    Py_ssize_t *index;
    Py_ssize_t cap, count;
} htab_t;

static int ht_init(htab_t *t, Py_ssize_t cap)
{
    t->cap = cap;
    t->count = 0;
    t->hash = PyMem_Malloc(sizeof(uint64_t) * (size_t)cap);
    t->index = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)cap);
    if (t->hash == NULL || t->index == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < cap; i++)
        t->index[i] = -1;
    return 0;
}

static void ht_free(htab_t *t)
{
    PyMem_Free(t->hash);
    PyMem_Free(t->index);
}

/* after an insert: double when over half full */
static int ht_grow(htab_t *t)
{
    if (2 * t->count <= t->cap)
        return 0;
    htab_t n;
    if (ht_init(&n, 2 * t->cap) < 0)
        return -1;
    for (Py_ssize_t i = 0; i < t->cap; i++) {
        if (t->index[i] < 0)
            continue;
        Py_ssize_t j = (Py_ssize_t)(t->hash[i] & (uint64_t)(n.cap - 1));
        while (n.index[j] >= 0)
            j = (j + 1) & (n.cap - 1);
        n.hash[j] = t->hash[i];
        n.index[j] = t->index[i];
    }
    n.count = t->count;
    ht_free(t);
    *t = n;
    return 0;
}

/* the distinct tokens: where each was first seen (line, start, length), its largest code point */
typedef struct {
    Py_ssize_t line, start, len;
    Py_UCS4 maxc;
} tokinfo_t;

static inline int same_chars(int ka, const void *da, Py_ssize_t sa, int kb, const void *db, Py_ssize_t sb,
                             Py_ssize_t len)
{
    if (ka == kb)
        return memcmp((const char *)da + sa * ka, (const char *)db + sb * kb, (size_t)(len * ka)) == 0;
    for (Py_ssize_t i = 0; i < len; i++)
        if (PyUnicode_READ(ka, da, sa + i) != PyUnicode_READ(kb, db, sb + i))
            return 0;
    return 1;
}

/* patterns._subsume on the T distinct templates (template c: the one of distinct row tfirst[c], in
 * first-seen order): final[c] is the template c goes to (c itself when nothing covers it). A new array,
 * or NULL with an exception set. */
static Py_ssize_t *subsume(const gs_t *g, const Py_ssize_t *tfirst, Py_ssize_t T)
{
    /* Per length: the templates holding "<*>" (generals) are filed by their wildcard pattern (which
     * positions are "<*>"), and in one hash table by (pattern, their constants). g covers t exactly when
     * t's tokens at g's constant positions are g's constants, so each template looks itself up once per
     * pattern, patterns with fewer "<*>" first, and stops once the patterns left have more "<*>" than the
     * best cover found (ties: the lower template number, i.e. first seen). */
    Py_ssize_t *final = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(T + 1));
    Py_ssize_t *wilds = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(T + 1));
    Py_ssize_t *bylen = PyMem_Malloc(sizeof(Py_ssize_t) * 2 * (size_t)(T + 1));
    Py_ssize_t *general = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(T + 1));
    Py_ssize_t *pat_of = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(T + 1));   /* general -> pattern */
    Py_ssize_t *pat_q = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(T + 1));   /* pattern -> its first general */
    Py_ssize_t *order = PyMem_Malloc(sizeof(Py_ssize_t) * 2 * (size_t)(T + 1)); /* (k, pattern), sorted */
    Py_ssize_t *ptab = NULL, *ctab = NULL;
    uint64_t *chash = NULL;
    int ok = 0;
    if (final == NULL || wilds == NULL || bylen == NULL || general == NULL || pat_of == NULL || pat_q == NULL
        || order == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t c = 0; c < T; c++) {
        const Py_ssize_t r = tfirst[c];
        const int32_t *t = g->arena + g->templ[r];
        Py_ssize_t k = 0;
        for (Py_ssize_t p = 0; p < g->len[r]; p++)
            k += t[p] == g->wild_id;
        wilds[c] = k;
        final[c] = -1; /* the pick: the covering template, -1 for none */
        bylen[2 * c] = g->len[r];
        bylen[2 * c + 1] = c;
    }
    qsort(bylen, (size_t)T, 2 * sizeof(Py_ssize_t), cmp_len_idx);
    for (Py_ssize_t a = 0; a < T;) {
        const Py_ssize_t n = bylen[2 * a];
        Py_ssize_t b = a, ng = 0;
        while (b < T && bylen[2 * b] == n) { /* the templates of this length, in first-seen order */
            if (wilds[bylen[2 * b + 1]] > 0)
                general[ng++] = bylen[2 * b + 1];
            b++;
        }
        if (ng == 0) {
            a = b;
            continue;
        }
        Py_ssize_t cap = 1;
        while (cap < 2 * ng)
            cap <<= 1;
        PyMem_Free(ptab);
        PyMem_Free(ctab);
        PyMem_Free(chash);
        ptab = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)cap); /* pattern table: slot -> pattern (-1) */
        ctab = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)cap); /* constants table: slot -> general (-1) */
        chash = PyMem_Malloc(sizeof(uint64_t) * (size_t)cap);
        if (ptab == NULL || ctab == NULL || chash == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        for (Py_ssize_t s = 0; s < cap; s++)
            ptab[s] = ctab[s] = -1;
        /* patterns, numbered in first-seen order; pat_q[id]: the index in general of the first one */
        Py_ssize_t np = 0;
        for (Py_ssize_t q = 0; q < ng; q++) {
            const int32_t *gs = g->arena + g->templ[tfirst[general[q]]];
            uint64_t h = MIX;
            for (Py_ssize_t p = 0; p < n; p++)
                h = (h ^ (uint64_t)(gs[p] == g->wild_id)) * MIX2;
            h = mix64(h);
            Py_ssize_t s = (Py_ssize_t)(h & (uint64_t)(cap - 1)), id = -1;
            while (ptab[s] >= 0) {
                const int32_t *fs = g->arena + g->templ[tfirst[general[pat_q[ptab[s]]]]];
                Py_ssize_t p = 0;
                while (p < n && (fs[p] == g->wild_id) == (gs[p] == g->wild_id))
                    p++;
                if (p == n) {
                    id = ptab[s];
                    break;
                }
                s = (s + 1) & (cap - 1);
            }
            if (id < 0) {
                id = np++;
                ptab[s] = id;
                pat_q[id] = q;
                order[2 * id] = wilds[general[q]];
                order[2 * id + 1] = id;
            }
            pat_of[q] = id;
            /* file the general under (pattern, constants) */
            uint64_t hc = (uint64_t)id * MIX;
            for (Py_ssize_t p = 0; p < n; p++)
                if (gs[p] != g->wild_id)
                    hc = (hc ^ (uint64_t)(uint32_t)gs[p]) * MIX2;
            hc = mix64(hc);
            s = (Py_ssize_t)(hc & (uint64_t)(cap - 1));
            while (ctab[s] >= 0)
                s = (s + 1) & (cap - 1);
            ctab[s] = q;
            chash[s] = hc;
        }
        /* patterns by their number of "<*>", fewest first */
        qsort(order, (size_t)np, 2 * sizeof(Py_ssize_t), cmp_len_idx);
        for (Py_ssize_t i = a; i < b; i++) {
            const Py_ssize_t t = bylen[2 * i + 1];
            const int32_t *ts = g->arena + g->templ[tfirst[t]];
            Py_ssize_t best = -1;
            for (Py_ssize_t pi = 0; pi < np; pi++) {
                const Py_ssize_t k = order[2 * pi], id = order[2 * pi + 1];
                if (best >= 0 && k > wilds[best])
                    break;
                const int32_t *fs = g->arena + g->templ[tfirst[general[pat_q[id]]]]; /* the pattern's "<*>" */
                uint64_t hc = (uint64_t)id * MIX;
                for (Py_ssize_t p = 0; p < n; p++)
                    if (fs[p] != g->wild_id)
                        hc = (hc ^ (uint64_t)(uint32_t)ts[p]) * MIX2;
                hc = mix64(hc);
                for (Py_ssize_t s = (Py_ssize_t)(hc & (uint64_t)(cap - 1)); ctab[s] >= 0; s = (s + 1) & (cap - 1)) {
                    if (chash[s] != hc || pat_of[ctab[s]] != id)
                        continue;
                    const Py_ssize_t gi = general[ctab[s]];
                    const int32_t *gs = g->arena + g->templ[tfirst[gi]];
                    Py_ssize_t p = 0;
                    while (p < n && (gs[p] == g->wild_id || gs[p] == ts[p]))
                        p++;
                    if (p == n && gi != t && (best < 0 || k < wilds[best] || (k == wilds[best] && gi < best)))
                        best = gi;
                }
            }
            final[t] = best;
        }
        a = b;
    }
    /* follow the picks up: a cover has more "<*>" than what it covers, so every chain ends */
    for (Py_ssize_t c = 0; c < T; c++) {
        Py_ssize_t f = c;
        while (final[f] >= 0)
            f = final[f];
        wilds[c] = f; /* wilds is free now: the results, kept apart from the picks still being followed */
    }
    memcpy(final, wilds, sizeof(Py_ssize_t) * (size_t)T);
    ok = 1;
done:
    PyMem_Free(wilds);
    PyMem_Free(bylen);
    PyMem_Free(general);
    PyMem_Free(pat_of);
    PyMem_Free(pat_q);
    PyMem_Free(order);
    PyMem_Free(ptab);
    PyMem_Free(ctab);
    PyMem_Free(chash);
    if (!ok) {
        PyMem_Free(final);
        return NULL;
    }
    return final;
}

static PyObject *group_lines(PyObject *self, PyObject *args)
{
    PyObject *lines, *weights;
    Py_ssize_t min_distinct, first_max;
    double ratio, repeat;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!Snndd:group_lines", &PyList_Type, &lines, &weights, &min_distinct, &first_max,
                          &ratio, &repeat))
        return NULL;
    const Py_ssize_t N = PyList_GET_SIZE(lines);
    if (PyBytes_GET_SIZE(weights) != N * (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "group_lines: weights must hold one int64 per line");
        return NULL;
    }
    const int64_t *wts = (const int64_t *)PyBytes_AS_STRING(weights);
    PyObject *codes = NULL, *templates = NULL, *result = NULL;
    gs_t g = {0};
    htab_t toks = {0}, rowt = {0}, tmpl = {0};
    tokinfo_t *info = NULL;
    Py_ssize_t ninfo = 0, cap_info = 0, ntok = 0, cap_tok = 0, R = 0, cap_rows = 0;
    Py_ssize_t *row_of = NULL, *bylen = NULL, *cnt = NULL, *rows = NULL, *tfirst = NULL, *final = NULL;
    Py_ssize_t *number = NULL;
    int32_t *line_ids = NULL;
    Py_ssize_t cap_line = 0;
    if (ht_init(&toks, 1024) < 0 || ht_init(&rowt, 1024) < 0)
        goto done;
    row_of = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(N + 1));
    codes = PyBytes_FromStringAndSize(NULL, N * (Py_ssize_t)sizeof(int64_t));
    if (row_of == NULL || codes == NULL) {
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        goto done;
    }
    /* tokenise and intern; distinct rows (first-seen order) as id sequences */
    for (Py_ssize_t i = 0; i < N; i++) {
        PyObject *s = PyList_GET_ITEM(lines, i);
        if (want_str(s, i) < 0)
            goto done;
        const Py_ssize_t len = PyUnicode_GET_LENGTH(s);
        const int kind = PyUnicode_KIND(s);
        const void *d = PyUnicode_DATA(s);
        Py_ssize_t m = 0, prev_a = -1, prev_len = 0;
        int32_t prev_id = -1;
        for (Py_ssize_t k = 0; k < len;) {
            while (k < len && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, d, k)))
                k++;
            if (k >= len)
                break;
            const Py_ssize_t a = k;
            uint64_t h = MIX;
            Py_UCS4 maxc = 0;
            int wild = 0;
            while (k < len) {
                const Py_UCS4 c = PyUnicode_READ(kind, d, k);
                if (Py_UNICODE_ISSPACE(c))
                    break;
                h = (h ^ c) * MIX2;
                maxc = c > maxc ? c : maxc;
                wild |= c == '*' && k > a && k + 1 < len && PyUnicode_READ(kind, d, k - 1) == '<'
                        && PyUnicode_READ(kind, d, k + 1) == '>';
                k++;
            }
            const Py_ssize_t tl = k - a;
            h = mix64(h ^ (uint64_t)tl);
            /* a token holding "<*>" equal to the one before it is dropped (a run counts once) */
            if (wild && prev_id >= 0 && prev_len == tl && same_chars(kind, d, prev_a, kind, d, a, tl))
                continue;
            Py_ssize_t j = (Py_ssize_t)(h & (uint64_t)(toks.cap - 1));
            int32_t id = -1;
            while (toks.index[j] >= 0) {
                if (toks.hash[j] == h) {
                    const tokinfo_t *ti = info + toks.index[j];
                    PyObject *o = PyList_GET_ITEM(lines, ti->line);
                    if (ti->len == tl
                        && same_chars(PyUnicode_KIND(o), PyUnicode_DATA(o), ti->start, kind, d, a, tl)) {
                        id = (int32_t)toks.index[j];
                        break;
                    }
                }
                j = (j + 1) & (toks.cap - 1);
            }
            if (id < 0) {
                if (ninfo >= INT32_MAX - 1) {
                    PyErr_SetString(PyExc_OverflowError, "too many distinct tokens");
                    goto done;
                }
                if (ninfo >= cap_info) {
                    cap_info = 2 * cap_info + 256;
                    tokinfo_t *t = PyMem_Realloc(info, sizeof(tokinfo_t) * (size_t)cap_info);
                    char *w = PyMem_Realloc(g.wild, (size_t)cap_info);
                    if (t != NULL)
                        info = t;
                    if (w != NULL)
                        g.wild = w;
                    char *mk = PyMem_Realloc(g.masked, (size_t)cap_info);
                    if (mk != NULL)
                        g.masked = mk;
                    if (t == NULL || w == NULL || mk == NULL) {
                        PyErr_NoMemory();
                        goto done;
                    }
                }
                info[ninfo] = (tokinfo_t){i, a, tl, maxc};
                g.wild[ninfo] = (char)(wild && tl == 3);
                g.masked[ninfo] = (char)wild;
                id = (int32_t)ninfo;
                toks.hash[j] = h;
                toks.index[j] = ninfo++;
                toks.count++;
                if (ht_grow(&toks) < 0)
                    goto done;
            }
            if (m >= cap_line) {
                cap_line = 2 * cap_line + 64;
                int32_t *t = PyMem_Realloc(line_ids, sizeof(int32_t) * (size_t)cap_line);
                if (t == NULL) {
                    PyErr_NoMemory();
                    goto done;
                }
                line_ids = t;
            }
            line_ids[m++] = id;
            prev_id = id;
            prev_a = a;
            prev_len = tl;
        }
        /* the row: known, or a new distinct one */
        uint64_t h = (uint64_t)m * MIX;
        for (Py_ssize_t k = 0; k < m; k++)
            h = (h ^ (uint64_t)(uint32_t)line_ids[k]) * MIX2;
        h = mix64(h);
        Py_ssize_t j = (Py_ssize_t)(h & (uint64_t)(rowt.cap - 1));
        Py_ssize_t r = -1;
        while (rowt.index[j] >= 0) {
            const Py_ssize_t c = rowt.index[j];
            if (rowt.hash[j] == h && g.len[c] == m
                && (m == 0 || memcmp(g.tok + g.off[c], line_ids, sizeof(int32_t) * (size_t)m) == 0)) {
                r = c;
                break;
            }
            j = (j + 1) & (rowt.cap - 1);
        }
        if (r < 0) {
            if (R >= cap_rows) {
                cap_rows = 2 * cap_rows + 256;
                Py_ssize_t *o = PyMem_Realloc(g.off, sizeof(Py_ssize_t) * (size_t)cap_rows);
                if (o != NULL)
                    g.off = o;
                Py_ssize_t *l = PyMem_Realloc(g.len, sizeof(Py_ssize_t) * (size_t)cap_rows);
                if (l != NULL)
                    g.len = l;
                int64_t *wt = PyMem_Realloc(g.weight, sizeof(int64_t) * (size_t)cap_rows);
                if (wt != NULL)
                    g.weight = wt;
                if (o == NULL || l == NULL || wt == NULL) {
                    PyErr_NoMemory();
                    goto done;
                }
            }
            if (ntok + m > cap_tok) {
                cap_tok = 2 * (ntok + m) + 1024;
                int32_t *t = PyMem_Realloc(g.tok, sizeof(int32_t) * (size_t)cap_tok);
                if (t == NULL) {
                    PyErr_NoMemory();
                    goto done;
                }
                g.tok = t;
            }
            if (m > 0)
                memcpy(g.tok + ntok, line_ids, sizeof(int32_t) * (size_t)m);
            g.off[R] = ntok;
            g.len[R] = m;
            g.weight[R] = 0;
            ntok += m;
            r = R++;
            rowt.hash[j] = h;
            rowt.index[j] = r;
            rowt.count++;
            if (ht_grow(&rowt) < 0)
                goto done;
        }
        row_of[i] = r;
        g.weight[r] += wts[i];
    }
    /* the id of "<*>" (added as a token with no occurrence when no line holds it) */
    g.wild_id = -1;
    for (Py_ssize_t v = 0; v < ninfo && g.wild_id < 0; v++)
        if (g.wild[v])
            g.wild_id = (int32_t)v;
    const Py_ssize_t V = ninfo + 1;
    if (g.wild_id < 0)
        g.wild_id = (int32_t)ninfo; /* never read from a line: only written into templates */
    g.stamp = PyMem_Calloc((size_t)V, sizeof(Py_ssize_t));
    g.slot = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)V);
    cnt = PyMem_Calloc((size_t)V, sizeof(Py_ssize_t));
    bylen = PyMem_Malloc(sizeof(Py_ssize_t) * 2 * (size_t)(R + 1));
    rows = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(R + 1));
    g.templ = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(R + 1));
    g.arena = PyMem_Malloc(sizeof(int32_t) * (size_t)(ntok + 1));
    g.pcap = 1;
    while (g.pcap < 2 * R)
        g.pcap <<= 1;
    g.pairs = PyMem_Malloc(sizeof(uint64_t) * (size_t)g.pcap);
    g.pstamp = PyMem_Calloc((size_t)g.pcap, sizeof(Py_ssize_t));
    tfirst = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(R + 1));
    if (g.stamp == NULL || g.slot == NULL || cnt == NULL || bylen == NULL || rows == NULL || g.templ == NULL
        || g.arena == NULL || g.pairs == NULL || g.pstamp == NULL || tfirst == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t r = 0; r < R; r++) {
        bylen[2 * r] = g.len[r];
        bylen[2 * r + 1] = r;
    }
    qsort(bylen, (size_t)R, 2 * sizeof(Py_ssize_t), cmp_len_idx);
    for (Py_ssize_t a = 0; a < R;) {
        Py_ssize_t b = a;
        while (b < R && bylen[2 * b] == bylen[2 * a]) {
            rows[b - a] = bylen[2 * b + 1];
            b++;
        }
        if (group_length(&g, rows, b - a, bylen[2 * a], min_distinct, first_max, ratio, repeat, cnt) < 0)
            goto done;
        a = b;
    }
    /* the distinct templates in the lines' first-seen order; codes[i] is line i's (for now) */
    if (ht_init(&tmpl, 256) < 0)
        goto done;
    int64_t *out = (int64_t *)PyBytes_AS_STRING(codes);
    Py_ssize_t T = 0;
    for (Py_ssize_t i = 0; i < N; i++) {
        const Py_ssize_t r = row_of[i], n = g.len[r];
        const int32_t *t = g.arena + g.templ[r];
        uint64_t h = (uint64_t)n * MIX;
        for (Py_ssize_t k = 0; k < n; k++)
            h = (h ^ (uint64_t)(uint32_t)t[k]) * MIX2;
        h = mix64(h);
        Py_ssize_t j = (Py_ssize_t)(h & (uint64_t)(tmpl.cap - 1));
        Py_ssize_t found = -1;
        while (tmpl.index[j] >= 0) {
            const Py_ssize_t c = tmpl.index[j], rc = tfirst[c];
            if (tmpl.hash[j] == h && g.len[rc] == n
                && memcmp(g.arena + g.templ[rc], t, sizeof(int32_t) * (size_t)n) == 0) {
                found = c;
                break;
            }
            j = (j + 1) & (tmpl.cap - 1);
        }
        if (found < 0) {
            found = T;
            tfirst[T++] = r;
            tmpl.hash[j] = h;
            tmpl.index[j] = found;
            tmpl.count++;
            if (ht_grow(&tmpl) < 0)
                goto done;
        }
        out[i] = found;
    }
    /* a template covered by another goes to it (patterns._subsume), then the final templates are
     * numbered in the lines' first-seen order */
    final = subsume(&g, tfirst, T);
    number = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(T + 1));
    if (final == NULL || number == NULL) {
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t c = 0; c < T; c++)
        number[c] = -1;
    Py_ssize_t F = 0;
    for (Py_ssize_t i = 0; i < N; i++) {
        const Py_ssize_t f = final[out[i]];
        if (number[f] < 0) {
            number[f] = F;
            tfirst[F++] = tfirst[f]; /* F <= f: slot f is read before it can be overwritten */
        }
        out[i] = number[f];
    }
    T = F;
    templates = PyList_New(T);
    if (templates == NULL)
        goto done;
    for (Py_ssize_t c = 0; c < T; c++) {
        const Py_ssize_t r = tfirst[c], n = g.len[r];
        const int32_t *t = g.arena + g.templ[r];
        Py_ssize_t total = n > 0 ? n - 1 : 0;
        Py_UCS4 maxc = 0;
        for (Py_ssize_t k = 0; k < n; k++) {
            const Py_ssize_t tl = t[k] == g.wild_id ? 3 : info[t[k]].len;
            const Py_UCS4 mc = t[k] == g.wild_id ? '>' : info[t[k]].maxc;
            total += tl;
            maxc = mc > maxc ? mc : maxc;
        }
        PyObject *str = PyUnicode_New(total, maxc < 128 ? 127 : maxc);
        if (str == NULL)
            goto done;
        const int ok = PyUnicode_KIND(str);
        void *od = PyUnicode_DATA(str);
        Py_ssize_t w = 0;
        for (Py_ssize_t k = 0; k < n; k++) {
            if (k > 0)
                PyUnicode_WRITE(ok, od, w++, ' ');
            if (t[k] == g.wild_id) {
                PyUnicode_WRITE(ok, od, w++, '<');
                PyUnicode_WRITE(ok, od, w++, '*');
                PyUnicode_WRITE(ok, od, w++, '>');
                continue;
            }
            const tokinfo_t *ti = info + t[k];
            PyObject *o = PyList_GET_ITEM(lines, ti->line);
            const int ik = PyUnicode_KIND(o);
            const void *id = PyUnicode_DATA(o);
            for (Py_ssize_t q = 0; q < ti->len; q++)
                PyUnicode_WRITE(ok, od, w++, PyUnicode_READ(ik, id, ti->start + q));
        }
        PyList_SET_ITEM(templates, c, str);
    }
    result = Py_BuildValue("(OO)", codes, templates);
done:
    Py_XDECREF(codes);
    Py_XDECREF(templates);
    ht_free(&toks);
    ht_free(&rowt);
    ht_free(&tmpl);
    PyMem_Free(info);
    PyMem_Free(row_of);
    PyMem_Free(bylen);
    PyMem_Free(cnt);
    PyMem_Free(rows);
    PyMem_Free(tfirst);
    PyMem_Free(final);
    PyMem_Free(number);
    PyMem_Free(line_ids);
    PyMem_Free(g.tok);
    PyMem_Free(g.off);
    PyMem_Free(g.len);
    PyMem_Free(g.weight);
    PyMem_Free(g.wild);
    PyMem_Free(g.masked);
    PyMem_Free(g.stamp);
    PyMem_Free(g.slot);
    PyMem_Free(g.pairs);
    PyMem_Free(g.pstamp);
    PyMem_Free(g.arena);
    PyMem_Free(g.templ);
    return result;
}

static PyMethodDef methods[] = {
    {"zero_factorize", zero_factorize, METH_O,
     "zero_factorize(lines) -> (codes, distinct): lines deduplicated with every digit read as 0; codes is "
     "the int64 code of every line (bytes), distinct the zeroed lines in first-seen order."},
    {"mask_digit_runs", mask_digit_runs, METH_O,
     "mask_digit_runs(lines) -> lines with every run of ASCII digits replaced by '<*>' (regex [0-9]+)."},
    {"mask_tail", mask_tail, METH_O,
     "mask_tail(lines) -> lines with the default masks after the digit runs applied in order (paths, hex "
     "tails, units, signs, joined masks, key=value values), with the regexes' replace_all semantics."},
    {"mask_ident", mask_ident, METH_O,
     "mask_ident(lines) -> lines with the identifier regex (patterns.DEFAULT_MASKS[0]) replaced by '<*>', "
     "with the regex's replace_all semantics."},
    {"group_lines", group_lines, METH_VARARGS,
     "group_lines(masked, weights, min_distinct, first_token_max, pair_ratio, pair_repeat) -> (codes, "
     "templates): each line's template index (int64 bytes, first-seen order) and the template strings; "
     "weights: int64 bytes, the lines each masked line stands for."},
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
