/* Compiled kernels of news-dedupe (text path, index, detectors): plain C over numpy buffers,
 * called through ctypes (dedupe/native.py). Each function computes exactly what the numpy code
 * it stands in for computes (tests hold the two equal), so a machine without a compiler gets the
 * same output from the numpy path, only slower.
 *
 *   token_bounds                tokentable.token_bounds and token_runs
 *   fold_utf8                   normalising.fold_lines: text folded one character at a time
 *   map_points                  the same for code points (boilerplate's lower-casing)
 *   token_keys                  tokentable.token_keys
 *   token_keys_utf32            the same for tokens given as code points (boilerplate features)
 *   lookup_capped               boilerplate's character table, looked up per code point
 *   table_find                  tokentable.TokenTable._find (open addressing, linear probing)
 *   agreements                  deciding.similarity (before the division)
 *   document_pairs              deciding._pairs_of_documents
 *   kind_counts                 boilerplate._features_many's character counts
 *   merge_in_place / run_lookup lsh._merge into a run's own (growing) arrays /
 *                               lsh._SortedMultimap.lookup (per run)
 *   run_directory / band_keys   lsh._Run's bucket directory, MinHashLSHIndex.band_keys
 *   row_counts                  offtopic.TermCounts.count's sparse counts
 *   best_run                    one round of the off-topic run search of one document
 *                               (OffTopicDetector._best_runs_padded for a document alone)
 *   search_runs                 offtopic.OffTopicDetector._search_many, every round of a chunk's
 *                               documents (best_run each round)
 *   context_features            boilerplate._context_many
 *   document_blocks             boilerplate._document_blocks
 *   doc_grams                   offtopic._block_grams
 *   fold_shingles               shingling.Shingler.shingle's n-gram folding
 *   sequence_hashes             shingling.sequence_hashes
 *   minhash                     minhash.MinHasher.signatures
 *   chunk_copies                pipeline.Cleaner._copies for a chunk (deciding.find_copies,
 *                               indexing.ChunkLookup)
 *   vocab_scan                  boilerplate._vocab_hits_at: a matcher.compile_pattern program
 *                               tried at a chunk's candidate positions
 *
 * Arrays are C-contiguous; int64 sizes and offsets, as numpy gives them. No function allocates
 * or keeps memory, and none calls back into Python, so the GIL is released around each call.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Bumped whenever a function below changes its arguments or its meaning: dedupe.native only
 * uses a library that reports the version it was written for (a stale build is not called). */
#define KERNELS_VERSION 7

int64_t dd_version(void) { return KERNELS_VERSION; }

#ifndef DD_SOURCE_HASH
#define DD_SOURCE_HASH "" /* built without setup.py: no source check */
#endif
/* The first 16 hex digits of this file's SHA-256, as setup.py computed them for the build. */
const char *dd_source_hash(void) { return DD_SOURCE_HASH; }

#define GOLDEN 0x9E3779B97F4A7C15ULL
#define LENGTH_MIX 0xD6E8FEB86659FD93ULL
#define TOP_BIT (1ULL << 63)
#define FNV_OFFSET 0xCBF29CE484222325ULL
#define FNV_PRIME 0x100000001B3ULL
#define POWER_CAP 65535 /* sequence_hashes' positions stop at K^65535 */

static inline uint64_t fmix64(uint64_t h) {
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDULL;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ULL;
    h ^= h >> 33;
    return h;
}

static inline uint32_t fmix32(uint32_t h) {
    h ^= h >> 16;
    h *= 0x85EBCA6BU;
    h ^= h >> 13;
    h *= 0xC2B2AE35U;
    h ^= h >> 16;
    return h;
}

/* The 8 bytes from data[at] as a little-endian integer, zeros past the end of the buffer. */
static inline uint64_t load8(const uint8_t *data, int64_t size, int64_t at) {
    uint64_t word = 0;
    if (at + 8 <= size) {
        memcpy(&word, data + at, 8);
    } else if (at < size) {
        memcpy(&word, data + at, (size_t)(size - at));
    }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    word = __builtin_bswap64(word);
#endif
    return word;
}

static inline uint64_t low_bits(int64_t k) { return k >= 8 ? ~0ULL : ((1ULL << (8 * k)) - 1); }

/* The cuts that the characters of UTF-8 `units` of a script written without spaces make: bit
 * k of the result is set where a word must start anew at base + k (such a character, and what
 * follows one), for the first bytes of 3- and 4-byte characters flagged in `leads`; a cut that
 * falls beyond this block of 64 goes to *next (bit k for 64 + k). `unspaced` flags the code
 * points of the Basic Multilingual Plane; beyond it, U+20000-U+3FFFF (the CJK ideographs). */
static uint64_t unspaced_cuts(const uint8_t *units, int64_t n, int64_t base, uint64_t leads, const uint8_t *unspaced,
                              uint64_t *next) {
    uint64_t cuts = 0;
    while (leads) {
        const int bit = __builtin_ctzll(leads);
        leads &= leads - 1;
        const int64_t at = base + bit;
        const uint8_t lead = units[at];
        int width, hit;
        if (lead < 0xF0) {
            if (at + 2 >= n) continue;
            width = 3;
            hit = unspaced[((lead & 0x0F) << 12) | ((units[at + 1] & 0x3F) << 6) | (units[at + 2] & 0x3F)];
        } else {
            if (at + 3 >= n) continue;
            width = 4;
            const uint32_t cp = ((uint32_t)(lead & 0x07) << 18) | ((uint32_t)(units[at + 1] & 0x3F) << 12) |
                                ((uint32_t)(units[at + 2] & 0x3F) << 6) | (units[at + 3] & 0x3F);
            hit = cp >= 0x20000 && cp <= 0x3FFFF;
        }
        if (!hit) continue;
        cuts |= 1ULL << bit;
        if (bit + width < 64) cuts |= 1ULL << (bit + width);
        else *next |= 1ULL << (bit + width - 64);
    }
    return cuts;
}

/* Maximal runs of units that are not gaps (is_gap[unit] != 0): their starts and ends and, when
 * line_of is not NULL, their lines (how many newline bytes come before each), as far as
 * `capacity` allows. Returns how many there are (more than capacity: call again with room for
 * all). 64 units at a time: a mask of the word units, whose edges are walked bit by bit (a word
 * boundary every few bytes defeats a branch per byte). The popcnt clone counts a word's lines in
 * one instruction (the default build calls a library routine for each). With `unspaced` (not
 * NULL; see unspaced_cuts), the units are UTF-8 and each character of a script written without
 * spaces is a run of its own. */
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && !defined(__clang__)
__attribute__((target_clones("popcnt", "default")))
#endif
int64_t dd_token_bounds(const uint8_t *units, int64_t n, const uint8_t *is_gap, int64_t *starts, int64_t *ends,
                        int64_t *line_of, int64_t capacity, const uint8_t *unspaced) {
    int64_t n_starts = 0, n_ends = 0, line = 0;
    uint64_t previous = 0; /* the unit before this block was a word unit (bit 0) */
    uint64_t carried = 0;  /* cuts made by a character of the block before */
#ifdef __SSE2__
    /* A table of a few gap values (whitespace: six; a flag array: one) is compared 16 bytes at
     * a time instead of looked up byte by byte. */
    uint8_t gaps[8];
    int n_gaps = 0;
    for (int v = 0; v < 256 && n_gaps <= 8; v++) {
        if (is_gap[v]) {
            if (n_gaps < 8) gaps[n_gaps] = (uint8_t)v;
            n_gaps++;
        }
    }
    __m128i gap_vectors[8];
    for (int g = 0; g < n_gaps && g < 8; g++) gap_vectors[g] = _mm_set1_epi8((char)gaps[g]);
    const __m128i newline_vector = _mm_set1_epi8('\n');
    const __m128i lead_vector = _mm_set1_epi8((char)0xE0);
#endif
    for (int64_t base = 0; base < n; base += 64) {
        const int64_t size = n - base < 64 ? n - base : 64;
        uint64_t word = 0, newline = 0, leads = 0;
#ifdef __SSE2__
        if (size == 64 && n_gaps <= 8) {
            for (int part = 0; part < 4; part++) {
                const __m128i bytes = _mm_loadu_si128((const __m128i *)(units + base + 16 * part));
                __m128i gap = _mm_setzero_si128();
                for (int g = 0; g < n_gaps; g++) gap = _mm_or_si128(gap, _mm_cmpeq_epi8(bytes, gap_vectors[g]));
                word |= (uint64_t)(uint16_t)~_mm_movemask_epi8(gap) << (16 * part);
                newline |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(bytes, newline_vector)) << (16 * part);
                if (unspaced) /* bytes >= 0xE0: the first of a 3- or 4-byte character */
                    leads |= (uint64_t)(uint16_t)_mm_movemask_epi8(
                        _mm_cmpeq_epi8(_mm_max_epu8(bytes, lead_vector), bytes)) << (16 * part);
            }
        } else
#endif
        for (int64_t i = 0; i < size; i++) {
            const uint8_t u = units[base + i];
            word |= (uint64_t)(!is_gap[u]) << i;
            newline |= (uint64_t)(u == '\n') << i;
            leads |= (uint64_t)(u >= 0xE0) << i;
        }
        uint64_t cuts = carried;
        carried = 0;
        if (unspaced && leads) cuts |= unspaced_cuts(units, n, base, leads, unspaced, &carried);
        if (size < 64) cuts &= (1ULL << size) - 1;
        const uint64_t shifted = (word << 1) | previous;
        uint64_t rising = word & (~shifted | cuts), falling = shifted & (~word | cuts);
        if (size < 64) falling &= (1ULL << size) - 1;
        if (n_starts + __builtin_popcountll(rising) > capacity) { /* out of room: only count */
            n_starts += __builtin_popcountll(rising);
            line += __builtin_popcountll(newline);
            previous = size == 64 ? word >> 63 : (word >> (size - 1)) & 1;
            continue;
        }
        while (rising) {
            const int bit = __builtin_ctzll(rising);
            starts[n_starts] = base + bit;
            if (line_of) line_of[n_starts] = line + __builtin_popcountll(newline & ((1ULL << bit) - 1));
            n_starts++;
            rising &= rising - 1;
        }
        while (falling) {
            ends[n_ends++] = base + __builtin_ctzll(falling);
            falling &= falling - 1;
        }
        line += __builtin_popcountll(newline);
        previous = size == 64 ? word >> 63 : (word >> (size - 1)) & 1;
    }
    if (n_starts <= capacity && n_ends < n_starts) ends[n_ends] = n;
    return n_starts;
}

/* Every pair (i, j), lo[d] <= j < i < lo[d] + k[d], of documents d, in row-major order. */
void dd_document_pairs(const int64_t *lo, const int64_t *k, int64_t n_docs, int64_t *i_out, int64_t *j_out) {
    int64_t p = 0;
    for (int64_t d = 0; d < n_docs; d++) {
        for (int64_t i = lo[d] + 1; i < lo[d] + k[d]; i++) {
            for (int64_t j = lo[d]; j < i; j++) {
                i_out[p] = i;
                j_out[p++] = j;
            }
        }
    }
}

/* Of the 64 characters of word w of kinds (fewer at the end): a bit mask of each kind's, and of
 * those that start a word (not space_kind, after a space_kind one or first of all). */
static inline void kind_masks(const uint8_t *kinds, int64_t n_chars, int64_t w, int64_t n_kinds, int64_t space_kind,
                              uint64_t *masks, uint64_t *starts) {
    const int64_t base = w * 64, size = n_chars - base < 64 ? n_chars - base : 64;
    for (int64_t k = 0; k < n_kinds; k++) masks[k] = 0;
#ifdef __SSE2__
    if (size == 64) {
        for (int part = 0; part < 4; part++) {
            const __m128i v = _mm_loadu_si128((const __m128i *)(kinds + base + 16 * part));
            for (int64_t k = 0; k < n_kinds; k++) {
                const uint64_t bits = (uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8((char)k)));
                masks[k] |= bits << (16 * part);
            }
        }
    } else
#endif
    for (int64_t i = 0; i < size; i++) {
        if (kinds[base + i] < n_kinds) masks[kinds[base + i]] |= 1ULL << i;
    }
    const uint64_t space = masks[space_kind], before = base == 0 || kinds[base - 1] == space_kind;
    *starts = ~space & ((space << 1) | before) & (size == 64 ? ~0ULL : (1ULL << size) - 1);
}

/* counts[b][kind][starts a word] over block b's characters and the newline after it (the blocks
 * lie one after another, each followed by one separator; the last has none): every character of
 * a kind other than space_kind after a space_kind one (or first) starts a word. counts is zeroed.
 * Counted 64 characters at a time, by bit masks (n_kinds at most 16). */
__attribute__((target_clones("popcnt", "default")))
void dd_kind_counts(const uint8_t *kinds, int64_t n_chars, const int64_t *lengths, int64_t n_blocks, int64_t n_kinds,
                    int64_t space_kind, int64_t *counts) {
    uint64_t masks[16], starts = 0;
    int64_t at = 0, cached = -1;
    for (int64_t b = 0; b < n_blocks && at < n_chars; b++) {
        int64_t *row = counts + b * n_kinds * 2;
        int64_t end = at + lengths[b] + 1;
        if (end > n_chars) end = n_chars;
        while (at < end) {
            const int64_t w = at / 64, lo = at - w * 64, hi = end - w * 64 < 64 ? end - w * 64 : 64;
            if (w != cached) {
                kind_masks(kinds, n_chars, w, n_kinds, space_kind, masks, &starts);
                cached = w;
            }
            const uint64_t range = (hi == 64 ? ~0ULL : (1ULL << hi) - 1) & ~((1ULL << lo) - 1);
            for (int64_t k = 0; k < n_kinds; k++) {
                const uint64_t m = masks[k] & range;
                row[2 * k] += __builtin_popcountll(m & ~starts);
                row[2 * k + 1] += __builtin_popcountll(m & starts);
            }
            at = w * 64 + hi;
        }
    }
}

/* How many of the `columns` values rows i[p] and j[p] of sig share, for every pair p. */
void dd_agreements(const uint32_t *sig, int64_t columns, const int64_t *i, const int64_t *j, int64_t n_pairs,
                   int64_t *out) {
    for (int64_t p = 0; p < n_pairs; p++) {
        const uint32_t *x = sig + i[p] * columns, *y = sig + j[p] * columns;
        int64_t agree = 0;
        for (int64_t k = 0; k < columns; k++) agree += x[k] == y[k];
        out[p] = agree;
    }
}

/* A long token's key: each 8-byte word (little-endian, zero-padded) mixed with its place,
 * summed, and the sum mixed with the length; the top bit set. */
static inline uint64_t word_mix(uint64_t word, int64_t place) { return fmix64(word ^ (uint64_t)(place + 1) * GOLDEN); }

static inline uint64_t long_key(uint64_t summed, int64_t length) {
    return fmix64(summed ^ (uint64_t)length * LENGTH_MIX) | TOP_BIT;
}

void dd_token_keys(const uint8_t *data, int64_t size, const int64_t *starts, const int64_t *ends, int64_t n,
                   uint64_t *keys) {
    for (int64_t t = 0; t < n; t++) {
        int64_t start = starts[t], length = ends[t] - start;
        if (length < 8) {
            keys[t] = (load8(data, size, start) & low_bits(length)) | ((uint64_t)length << 56);
            continue;
        }
        uint64_t summed = 0;
        for (int64_t place = 0; place * 8 < length; place++) {
            summed += word_mix(load8(data, size, start + place * 8) & low_bits(length - place * 8), place);
        }
        keys[t] = long_key(summed, length);
    }
}

static inline int64_t put_utf8(uint8_t *out, uint32_t cp) {
    if (cp < 0x80) { out[0] = (uint8_t)cp; return 1; }
    if (cp < 0x800) { out[0] = 0xC0 | (cp >> 6); out[1] = 0x80 | (cp & 0x3F); return 2; }
    if (cp < 0x10000) {
        out[0] = 0xE0 | (cp >> 12); out[1] = 0x80 | ((cp >> 6) & 0x3F); out[2] = 0x80 | (cp & 0x3F);
        return 3;
    }
    out[0] = 0xF0 | (cp >> 18); out[1] = 0x80 | ((cp >> 12) & 0x3F);
    out[2] = 0x80 | ((cp >> 6) & 0x3F); out[3] = 0x80 | (cp & 0x3F);
    return 4;
}

#if defined(__SSE2__) && defined(__x86_64__)
/* The key of an ASCII token of code points p[0..length-1] (every 8-point load inside the array,
 * which ends at p_end), eight points packed to the eight bytes of a key word at a time; 0 if some
 * point is not ASCII (no key is 0: the length is in it). */
static inline uint64_t ascii_points_key(const uint32_t *p, int64_t length, const uint32_t *p_end) {
    if (p + ((length + 7) & ~7) > p_end) return 0;
    const __m128i below = _mm_setr_epi32(0, 1, 2, 3), above = _mm_setr_epi32(4, 5, 6, 7);
    const __m128i ascii_max = _mm_set1_epi32(0x7F);
    uint64_t summed = 0, word = 0;
    for (int64_t place = 0; place * 8 < length; place++) {
        const __m128i left = _mm_set1_epi32((int)(length - place * 8 < 8 ? length - place * 8 : 8));
        const __m128i a = _mm_and_si128(_mm_loadu_si128((const __m128i *)(p + place * 8)), _mm_cmplt_epi32(below, left));
        const __m128i b = _mm_and_si128(_mm_loadu_si128((const __m128i *)(p + place * 8 + 4)), _mm_cmplt_epi32(above, left));
        if (_mm_movemask_epi8(_mm_or_si128(_mm_cmpgt_epi32(a, ascii_max), _mm_cmpgt_epi32(b, ascii_max)))) return 0;
        const __m128i half = _mm_packs_epi32(a, b);
        word = (uint64_t)_mm_cvtsi128_si64(_mm_packus_epi16(half, half));
        if (length >= 8) summed += word_mix(word, place);
    }
    return length < 8 ? word | ((uint64_t)length << 56) : long_key(summed, length);
}
#endif

/* dd_token_keys for tokens given as code points (n_points of them): each keyed by its UTF-8
 * bytes (a surrogate as the three bytes Python's "surrogatepass" writes), streamed into the
 * words of the key; ASCII tokens eight points at a time. */
void dd_token_keys_utf32(const uint32_t *points, int64_t n_points, const int64_t *starts, const int64_t *ends,
                         int64_t n, uint64_t *keys) {
    for (int64_t t = 0; t < n; t++) {
#if defined(__SSE2__) && defined(__x86_64__)
        const uint64_t fast = ascii_points_key(points + starts[t], ends[t] - starts[t], points + n_points);
        if (fast) {
            keys[t] = fast;
            continue;
        }
#endif
        uint64_t word = 0, summed = 0;
        int64_t length = 0;
        for (int64_t i = starts[t]; i < ends[t]; i++) {
            if (points[i] < 0x80) { /* most characters: one byte, as below */
                word |= (uint64_t)points[i] << (8 * (length & 7));
                if ((length & 7) == 7) {
                    summed += word_mix(word, length / 8);
                    word = 0;
                }
                length++;
                continue;
            }
            uint8_t bytes[4];
            const int64_t size = put_utf8(bytes, points[i]);
            for (int64_t b = 0; b < size; b++, length++) {
                word |= (uint64_t)bytes[b] << (8 * (length & 7));
                if ((length & 7) == 7) {
                    summed += word_mix(word, length / 8);
                    word = 0;
                }
            }
        }
        if (length < 8) {
            keys[t] = word | ((uint64_t)length << 56);
        } else {
            if (length & 7) summed += word_mix(word, length / 8);
            keys[t] = long_key(summed, length);
        }
    }
}

/* out[i] = table[min(points[i], size - 1)], for 1- or 4-byte points. */
void dd_lookup_capped(const uint8_t *table, int64_t size, const void *points, int64_t itemsize, int64_t n,
                      uint8_t *out) {
    if (itemsize == 1) {
        const uint8_t *p = points;
        for (int64_t i = 0; i < n; i++) out[i] = table[p[i] < size ? p[i] : size - 1];
    } else {
        const uint32_t *p = points;
        for (int64_t i = 0; i < n; i++) out[i] = table[p[i] < (uint64_t)size ? p[i] : (uint64_t)size - 1];
    }
}

/* Folds UTF-8 text line by line, one character at a time: an ASCII byte b becomes ascii[b]
 * (-1: dropped); a character c of the Basic Multilingual Plane becomes bmp[c] (FOLD_DROP:
 * dropped; an ASCII result is mapped by ascii[] in turn); a character that bmp[] says
 * FOLD_PYTHON (or one beyond the plane) marks its line in needs_python[], for the caller to
 * fold that line itself, and is copied as it is. Lines end at '\n', which must map to itself.
 * bmp[] maps into the plane, so out needs at most 3/2 of n (2-byte characters becoming 3).
 * newlines[0] and [1] count the newlines read and written (a line past n_lines is not marked).
 * Returns the length written to out. */
#define FOLD_PYTHON 0xFFFFFFFFU
#define FOLD_DROP 0xFFFFFFFEU

int64_t dd_fold_utf8(const uint8_t *in, int64_t n, const int16_t *ascii, const uint32_t *bmp, int64_t table_size,
                     uint8_t *out, uint8_t *needs_python, int64_t n_lines, int64_t *newlines) {
    int64_t o = 0, line = 0, written = 0;
    for (int64_t i = 0; i < n;) {
        /* the ASCII bytes before the next other one, up to eight found at once, are mapped
         * without a branch per byte (a dropped one is written over by the next) */
        int run = 0;
        if (i + 8 <= n) {
            uint64_t eight;
            memcpy(&eight, in + i, 8);
            const uint64_t high = eight & 0x8080808080808080ULL;
            run = high ? __builtin_ctzll(high) >> 3 : 8;
        } else {
            while (i + run < n && in[i + run] < 0x80) run++;
        }
        if (run) {
            for (int k = 0; k < run; k++) {
                const uint8_t b = in[i + k];
                const int16_t to = ascii[b];
                out[o] = (uint8_t)to;
                o += to >= 0;
                written += to == '\n';
                line += b == '\n';
            }
            i += run;
            continue;
        }
        const uint8_t c = in[i];
        int64_t size = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        if (i + size > n) size = n - i;
        uint32_t cp = size == 2 ? (c & 0x1F) : size == 3 ? (c & 0x0F) : (c & 0x07);
        for (int64_t k = 1; k < size; k++) cp = (cp << 6) | (in[i + k] & 0x3F);
        const uint32_t to = cp < (uint32_t)table_size ? bmp[cp] : FOLD_PYTHON;
        if (to == FOLD_PYTHON) {
            if (line < n_lines) needs_python[line] = 1;
            memcpy(out + o, in + i, (size_t)size);
            o += size;
        } else if (to < 0x80) {
            if (ascii[to] >= 0) out[o++] = (uint8_t)ascii[to];
            written += ascii[to] == '\n';
        } else if (to != FOLD_DROP) {
            o += put_utf8(out + o, to);
        }
        i += size;
    }
    newlines[0] = line;
    newlines[1] = written;
    return o;
}

/* out[i] = table[points[i]] (the table covers code points below table_size); returns how many
 * points the table leaves to Python (FOLD_PYTHON, or beyond the table), whose out is left as
 * the point itself. */
int64_t dd_map_points(const uint32_t *points, int64_t n, const uint32_t *table, int64_t table_size, uint32_t *out) {
    int64_t odd = 0;
    for (int64_t i = 0; i < n; i++) {
        const uint32_t p = points[i];
        const uint32_t to = p < (uint32_t)table_size ? table[p] : FOLD_PYTHON;
        odd += to == FOLD_PYTHON;
        out[i] = to == FOLD_PYTHON ? p : to;
    }
    return odd;
}

/* Looks every key up in a table of 2^bits slots (key 0: empty); values[i] is the value held
 * for keys[i] (left as is where the key is missing), missing[] the positions of the keys the
 * table lacks, in order. Returns how many are missing. */
int64_t dd_table_find(const uint64_t *table_keys, const uint64_t *table_values, int bits, const uint64_t *keys,
                      int64_t n, uint64_t *values, int64_t *missing) {
    const uint64_t mask = (1ULL << bits) - 1;
    int64_t n_missing = 0;
    for (int64_t i = 0; i < n; i++) {
        uint64_t key = keys[i];
        uint64_t slot = (key * GOLDEN) >> (64 - bits);
        for (;;) {
            uint64_t held = table_keys[slot];
            if (held == key) {
                values[i] = table_values[slot];
                break;
            }
            if (held == 0) {
                missing[n_missing++] = i;
                break;
            }
            slot = (slot + 1) & mask;
        }
    }
    return n_missing;
}

static inline uint32_t fold(const uint64_t *words, int64_t count) {
    uint64_t h = FNV_OFFSET;
    for (int64_t i = 0; i < count; i++) h = (h ^ words[i]) * FNV_PRIME;
    return (uint32_t)((h >> 32) ^ (h & 0xFFFFFFFFULL));
}

/* Block b's words are word_hashes[word_starts[b]:word_starts[b + 1]] (at least one); its
 * shingles go to hashes[offsets[b]:offsets[b + 1]]: every window of n words, or one of all its
 * words when it has fewer than n. */
void dd_fold_shingles(const uint64_t *word_hashes, const int64_t *word_starts, const int64_t *offsets,
                      int64_t n_blocks, int64_t n, uint32_t *hashes) {
    for (int64_t b = 0; b < n_blocks; b++) {
        const uint64_t *words = word_hashes + word_starts[b];
        int64_t count = word_starts[b + 1] - word_starts[b];
        uint32_t *out = hashes + offsets[b];
        if (count < n) {
            out[0] = fold(words, count);
        } else {
            for (int64_t j = 0; j + n <= count; j++) out[j] = fold(words + j, n);
        }
    }
}

void dd_sequence_hashes(const uint64_t *values, const int64_t *starts, int64_t n_sequences, uint64_t *out) {
    for (int64_t s = 0; s < n_sequences; s++) {
        int64_t length = starts[s + 1] - starts[s];
        const uint64_t *v = values + starts[s];
        uint64_t summed = 0, power = 1;
        for (int64_t pos = 0; pos < length; pos++) {
            uint64_t mixed = (v[pos] + GOLDEN) * power;
            summed += mixed ^ (mixed >> 29);
            if (pos < POWER_CAP) power *= FNV_PRIME;
        }
        out[s] = summed ^ ((uint64_t)length * LENGTH_MIX);
    }
}

/* sig[b * num_perm + k] = min over block b's shingles x of a[k] * fmix32(x) + b[k] (mod 2^32).
 * The loop over permutations is the inner one, so it runs in vector registers. */
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
void dd_minhash(const uint32_t *hashes, const int64_t *offsets, int64_t n_blocks, const uint32_t *a,
                const uint32_t *b, int64_t num_perm, uint32_t *sig) {
    for (int64_t block = 0; block < n_blocks; block++) {
        uint32_t *row = sig + block * num_perm;
        for (int64_t k = 0; k < num_perm; k++) row[k] = 0xFFFFFFFFU;
        for (int64_t s = offsets[block]; s < offsets[block + 1]; s++) {
            const uint32_t m = fmix32(hashes[s]);
            for (int64_t k = 0; k < num_perm; k++) {
                uint32_t v = a[k] * m + b[k];
                row[k] = v < row[k] ? v : row[k];
            }
        }
    }
}

/* Sorted runs of (key, uint32 value), keys of 4 or 8 bytes (lsh._Run). */
#define KEY_AT(keys, wide, i) ((wide) ? ((const uint64_t *)(keys))[i] : (uint64_t)((const uint32_t *)(keys))[i])

/* Merges sorted (new_keys, new_vals) into the sorted run (keys, vals) in the run's own arrays:
 * they have room for n + m pairs, the run's n first, and the merge runs from the back, so that
 * no new array is needed (the operating system zeroes a fresh one first: at 100k documents that
 * was 8.5% of a run). A new pair goes after the run's pairs of an equal key (as
 * searchsorted(side="right") places it). The run is usually far longer than the batch (a level
 * of the LSM against one chunk's pairs), so each new key's place is galloped to backwards from
 * the last one's and the run's pairs above it move up whole; runs of alike sizes merge pair by
 * pair. */
#define MERGE_IN_PLACE(NAME, KEY)                                                                      \
    static void NAME(KEY *keys, uint32_t *vals, int64_t n, const KEY *new_keys, const uint32_t *new_vals, \
                     int64_t m) {                                                                      \
        int64_t i = n - 1, j = m - 1;                                                                  \
        if (n < 8 * m) {                                                                               \
            for (int64_t o = n + m - 1; j >= 0; o--) {                                                 \
                if (i >= 0 && keys[i] > new_keys[j]) keys[o] = keys[i], vals[o] = vals[i--];           \
                else keys[o] = new_keys[j], vals[o] = new_vals[j--];                                   \
            }                                                                                          \
            return;                                                                                    \
        }                                                                                              \
        for (; j >= 0; j--) {                                                                          \
            const KEY key = new_keys[j];                                                               \
            int64_t right = i + 1, left = i, step = 1; /* keys[right, i] > key */                      \
            while (left >= 0 && keys[left] > key) right = left, left -= step, step <<= 1;              \
            int64_t lo = left + 1 > 0 ? left + 1 : 0, hi = right; /* the place lies in [lo, right] */  \
            while (lo < hi) {                                                                          \
                const int64_t mid = lo + (hi - lo) / 2;                                                \
                if (keys[mid] <= key) lo = mid + 1;                                                    \
                else hi = mid;                                                                         \
            }                                                                                          \
            memmove(keys + lo + j + 1, keys + lo, sizeof(KEY) * (size_t)(i + 1 - lo));                 \
            memmove(vals + lo + j + 1, vals + lo, sizeof(uint32_t) * (size_t)(i + 1 - lo));            \
            keys[lo + j] = key, vals[lo + j] = new_vals[j];                                            \
            i = lo - 1;                                                                                \
        }                                                                                              \
    }
MERGE_IN_PLACE(merge_in_place32, uint32_t)
MERGE_IN_PLACE(merge_in_place64, uint64_t)

void dd_merge_in_place(void *keys, uint32_t *vals, int64_t n, const void *new_keys, const uint32_t *new_vals,
                       int64_t m, int64_t wide) {
    if (wide) merge_in_place64(keys, vals, n, new_keys, new_vals, m);
    else merge_in_place32(keys, vals, n, new_keys, new_vals, m);
}

/* For every query q[i], the pairs of the run with key q[i]: their query numbers to out_q and
 * values to out_v, query by query, in run order, as far as `capacity` allows. The bucket
 * directory start[] (uint32) gives the slice start[q >> shift] .. start[(q >> shift) + 1] that
 * can hold q. Returns how many there are (more than capacity: call again with room for all). */
int64_t dd_run_lookup(const void *keys, const uint32_t *vals, const uint32_t *start, int64_t shift, int64_t wide,
                      const void *q, int64_t m, int64_t *out_q, uint32_t *out_v, int64_t capacity) {
    int64_t found = 0;
    /* The runs outgrow the caches: a query's directory entry is fetched 2 * ahead queries
     * before it is read, and its bucket's keys (found through that entry) ahead queries before. */
    const int64_t ahead = 16;
    for (int64_t i = 0; i < m; i++) {
        if (i + 2 * ahead < m) __builtin_prefetch(start + (KEY_AT(q, wide, i + 2 * ahead) >> shift));
        if (i + ahead < m) {
            const uint32_t at = start[KEY_AT(q, wide, i + ahead) >> shift];
            __builtin_prefetch(wide ? (const void *)((const uint64_t *)keys + at) : (const void *)((const uint32_t *)keys + at));
        }
        const uint64_t key = KEY_AT(q, wide, i);
        const uint64_t bucket = key >> shift;
        for (uint32_t s = start[bucket]; s < start[bucket + 1]; s++) {
            if (KEY_AT(keys, wide, s) == key) {
                if (found < capacity) {
                    out_q[found] = i;
                    out_v[found] = vals[s];
                }
                found++;
            }
        }
    }
    return found;
}

/* Sorts c[0..size) ascending: quicksort (middle pivot of three) down to runs of 16, then one
 * insertion sort; inline comparisons, as a block's few dozen codes make qsort's calls the cost. */
static void sort_int64(int64_t *c, int64_t size) {
    int64_t stack[128], depth = 0, lo = 0, hi = size - 1;
    for (;;) {
        while (hi - lo > 16 && depth < 126) {
            int64_t mid = lo + (hi - lo) / 2;
            int64_t a = c[lo], b = c[mid], d = c[hi];
            int64_t pivot = a < b ? (b < d ? b : (a < d ? d : a)) : (a < d ? a : (b < d ? d : b));
            int64_t i = lo, j = hi;
            while (i <= j) {
                while (c[i] < pivot) i++;
                while (c[j] > pivot) j--;
                if (i <= j) {
                    int64_t t = c[i]; c[i] = c[j]; c[j] = t;
                    i++; j--;
                }
            }
            if (j - lo < hi - i) { stack[depth++] = i; stack[depth++] = hi; hi = j; }
            else { stack[depth++] = lo; stack[depth++] = j; lo = i; }
        }
        if (depth == 0) break;
        hi = stack[--depth];
        lo = stack[--depth];
    }
    for (int64_t a = 1; a < size; a++) {
        const int64_t v = c[a];
        int64_t b = a - 1;
        while (b >= 0 && c[b] > v) { c[b + 1] = c[b]; b--; }
        c[b + 1] = v;
    }
}

/* Sorts keys[0..n) ascending by their bits from `from` to `from + bits` (keys equal there keep
 * their order), 11 a pass, least significant first, through other (room for n); returns where
 * the sorted keys are (keys or other). */
#define RADIX_SORT(name, type)                                                              \
    static type *name(type *keys, type *other, int64_t n, int from, int bits) {             \
        int64_t counts[2048];                                                               \
        for (int shift = from; shift < from + bits; shift += 11) {                          \
            memset(counts, 0, sizeof(counts));                                              \
            for (int64_t k = 0; k < n; k++) counts[(keys[k] >> shift) & 2047]++;            \
            for (int64_t d = 0, at = 0; d < 2048; d++) {                                    \
                const int64_t here = counts[d];                                             \
                counts[d] = at;                                                             \
                at += here;                                                                 \
            }                                                                               \
            for (int64_t k = 0; k < n; k++) other[counts[(keys[k] >> shift) & 2047]++] = keys[k]; \
            type *swap = keys;                                                              \
            keys = other;                                                                   \
            other = swap;                                                                   \
        }                                                                                   \
        return keys;                                                                        \
    }
RADIX_SORT(radix_sort32, uint32_t)
RADIX_SORT(radix_sort64, uint64_t)

/* (key, value) pairs as one uint64 each, key in the high 32 bits, ordered by key as a stable
 * sort orders them (np.sort of the composites, where the values never decrease along the
 * input: lsh.sorted_pairs). Sorted in pairs[0..n), scratch holding n more; a comparison sort
 * of a chunk's 100k band keys cost 4 ms, a third of the index's time. */
void dd_sort_pairs(uint64_t *pairs, uint64_t *scratch, int64_t n) {
    uint64_t *sorted = radix_sort64(pairs, scratch, n, 32, 32);
    if (sorted != pairs) memcpy(pairs, sorted, (size_t)n * sizeof(uint64_t));
}

/* CSR counts of the pairs (row[k], codes[k]) with codes[k] >= 0: for each row r, each column
 * c (ascending) holding a pair and how many pairs have it. indptr has n_rows + 1 entries;
 * indices and data room for m; scratch holds 2 m int64. The pairs are sorted as one key, row
 * above column (32 bits where they fit), by a radix sort: rows hold a few dozen codes, where a
 * comparison sort loses most of its time to branches. Returns the number of stored entries. */
int64_t dd_row_counts(const int64_t *row, const int64_t *codes, int64_t m, int64_t n_rows, int64_t *scratch,
                      int64_t *indptr, int32_t *indices, double *data) {
    int64_t largest = 0, kept = 0;
    for (int64_t k = 0; k < m; k++) {
        if (codes[k] > largest) largest = codes[k];
    }
    int code_bits = 1, row_bits = 0;
    while (code_bits < 63 && (largest >> code_bits)) code_bits++;
    while (row_bits < 63 && ((n_rows - 1) >> row_bits) > 0) row_bits++;
    const int narrow = code_bits + row_bits <= 32;
    uint32_t *keys32 = (uint32_t *)scratch;
    uint64_t *keys64 = (uint64_t *)scratch;
    for (int64_t k = 0; k < m; k++) {
        if (codes[k] < 0) continue;
        const uint64_t key = ((uint64_t)row[k] << code_bits) | (uint64_t)codes[k];
        if (narrow) keys32[kept++] = (uint32_t)key;
        else keys64[kept++] = key;
    }
    if (narrow) keys32 = radix_sort32(keys32, (uint32_t *)scratch + m, kept, 0, code_bits + row_bits);
    else keys64 = radix_sort64(keys64, (uint64_t *)scratch + m, kept, 0, code_bits + row_bits);
    const uint64_t column_mask = (1ULL << code_bits) - 1;
    int64_t nnz = 0, r = 0;
    uint64_t previous = 0;
    indptr[0] = 0;
    for (int64_t k = 0; k < kept; k++) {
        const uint64_t key = narrow ? keys32[k] : keys64[k];
        const int64_t key_row = (int64_t)(key >> code_bits);
        while (r < key_row) indptr[++r] = nnz;
        if (k == 0 || key != previous) {
            indices[nnz] = (int32_t)(key & column_mask);
            data[nnz++] = 0.0;
        }
        data[nnz - 1] += 1.0;
        previous = key;
    }
    while (r < n_rows) indptr[++r] = nnz;
    return nnz;
}

/* The off-topic run search of one document (offtopic.OffTopicDetector._best_runs_padded for a
 * document alone, number for number, each step in numpy's order): g is the k x k Gram matrix of
 * its active blocks, to_total and cw the running sums (k + 1, from 0) of their products with
 * the article vector and of their words; total2 = T.T, words_on the article's words. Every run
 * a..b-1 gets a score (-1 where it does not qualify); block_best[i] is the best score of a run
 * holding block i (clipped to [0, 1]); the largest run scoring >= threshold (the first in
 * row-major order on ties) goes to *start, *end, *score. Returns whether there is one.
 * Scratch: p, row_cum and run_score, (k + 1)^2 doubles each. */
int64_t dd_best_run(const double *g, int64_t k, const double *to_total, const double *cw, double total2,
                    double words_on, int64_t window, double threshold, double full_sim, double half_words2,
                    double *p, double *row_cum, double *run_score, double *block_best, int64_t *start,
                    int64_t *end, double *score) {
    const int64_t top = k + 1;
    /* p[i + 1][j + 1]: g summed down the rows, then along the columns (g.cumsum(1).cumsum(2));
     * row_cum[i][j]: g[i][:j] summed in order */
    for (int64_t j = 0; j < top; j++) p[j] = 0.0;
    for (int64_t i = 1; i < top; i++) {
        p[i * top] = 0.0;
        for (int64_t j = 1; j < top; j++) p[i * top + j] = p[(i - 1) * top + j] + g[(i - 1) * k + (j - 1)];
    }
    for (int64_t i = 1; i < top; i++) {
        for (int64_t j = 2; j < top; j++) p[i * top + j] += p[i * top + j - 1];
    }
    for (int64_t i = 0; i < k; i++) {
        row_cum[i * top] = 0.0;
        for (int64_t j = 1; j < top; j++) row_cum[i * top + j] = row_cum[i * top + j - 1] + g[i * k + (j - 1)];
    }
    int64_t pick = 0;
    double largest = -1.0;
    for (int64_t a = 0; a < top; a++) {
        for (int64_t b = 0; b < top; b++) {
            double rr = p[b * top + b] - p[a * top + b] - p[b * top + a] + p[a * top + a];
            rr = rr > 0.0 ? rr : 0.0;
            const double rt = to_total[b] - to_total[a];
            double qq = total2 - 2 * rt + rr;
            qq = qq > 0.0 ? qq : 0.0;
            const double denom = sqrt(rr * qq);
            const double cos = denom > 1e-12 ? (rt - rr) / denom : 0.0;
            const double w = cw[b] - cw[a];
            double w_rest = words_on - w;
            w_rest = w_rest > 0.0 ? w_rest : 0.0;
            const double w_eff = w + w_rest > 0 ? w * w_rest / (w + w_rest) : 0.0;
            const double expected = full_sim * (w_eff * w_eff) / (w_eff * w_eff + half_words2 + 1e-12);
            const double ratio = expected > 0 ? cos / expected : 1.0;
            /* both edge blocks of the run closer to the rest of the run than to the article */
            int valid = b - a >= window && denom > 1e-12 && a < k;
            for (int edge = 0; edge < 2 && valid; edge++) {
                const int64_t e = edge == 0 ? a : (b - 1 < 0 ? 0 : b - 1);
                const double to_run = row_cum[e * top + b] - row_cum[e * top + a];
                const double own = g[e * k + e];
                double run2 = rr - 2 * to_run + own;
                run2 = run2 > 1e-12 ? run2 : 1e-12;
                const double rest2 = qq > 1e-12 ? qq : 1e-12;
                valid = (to_run - own) / sqrt(run2) >= ((to_total[e + 1] - to_total[e]) - to_run) / sqrt(rest2);
            }
            const double clipped = ratio < 0.0 ? 0.0 : ratio > 1.0 ? 1.0 : ratio;
            const double s = valid ? 1.0 - clipped : -1.0;
            run_score[a * top + b] = s;
            const double size = s >= threshold ? w + 1e-6 * s : -1.0;
            if (size > largest || (a == 0 && b == 0)) {
                largest = size;
                pick = a * top + b;
            }
        }
    }
    *start = pick / top;
    *end = pick % top;
    *score = run_score[pick];
    /* the best score of a run a..b'-1 with b' >= b, in place; then, at (a, i + 1) for a <= i,
     * that of a run holding block i */
    for (int64_t a = 0; a < top; a++) {
        for (int64_t b = top - 2; b >= 0; b--) {
            const double later = run_score[a * top + b + 1];
            if (later > run_score[a * top + b]) run_score[a * top + b] = later;
        }
    }
    for (int64_t i = 0; i < k; i++) {
        double best = run_score[i + 1];
        for (int64_t a = 1; a <= i; a++) {
            const double v = run_score[a * top + i + 1];
            if (v > best) best = v;
        }
        block_best[i] = best < 0.0 ? 0.0 : best > 1.0 ? 1.0 : best;
    }
    return largest >= 0.0;
}

/* The off-topic run search of a chunk's searched documents (offtopic.OffTopicDetector.
 * _search_many, then _spread_to_short_blocks), document by document: document d has size[d]
 * blocks from block first[d] of the per-block arrays, its Gram matrix at grams + gram_at[d]
 * (row-major). Each round searches the candidate blocks not flagged yet (dd_best_run on their
 * run sums, as offtopic._run_sums gives them, every sum in order), sets their scores, and flags
 * the run found, whose weight in the article vector then drops to 0; at most max_runs runs.
 * Then each short (not substantive) block takes the lower score of its nearest substantive
 * neighbours, flagged only between flagged ones. score and flagged (all blocks) come zeroed.
 * Scratch for the largest document (m blocks): weight, t, block_best m doubles, idx m int64,
 * g m * m doubles, to_total and cw m + 1, and dd_best_run's three (m + 1)^2. */
void dd_search_runs(const double *grams, const int64_t *gram_at, const int64_t *first, const int64_t *size,
                    int64_t n_docs, const double *words, const uint8_t *substantive, const uint8_t *lead,
                    const uint8_t *candidate, double lead_weight, int64_t window, double threshold,
                    double full_sim, double half_words2, int64_t max_runs, double *weight, double *t,
                    double *block_best, int64_t *idx, double *g, double *to_total, double *cw, double *p,
                    double *row_cum, double *run_score, double *score, uint8_t *flagged) {
    for (int64_t d = 0; d < n_docs; d++) {
        const int64_t m = size[d], off = first[d];
        const double *gram = grams + gram_at[d];
        const double *wd = words + off;
        double *sc = score + off;
        uint8_t *fl = flagged + off;
        for (int64_t i = 0; i < m; i++) weight[i] = (lead[off + i] ? lead_weight : 1.0) * (substantive[off + i] ? 1.0 : 0.0);
        for (int64_t runs = 0;; runs++) {
            int64_t k = 0;
            for (int64_t i = 0; i < m; i++) {
                if (candidate[off + i] && !fl[i]) idx[k++] = i;
            }
            if (k < window) {
                for (int64_t a = 0; a < k; a++) sc[idx[a]] = 0.0;
                break;
            }
            /* t = gram @ weight, T.T = t . weight, the article's words: each sum in order */
            double total2 = 0.0, words_on = 0.0;
            for (int64_t i = 0; i < m; i++) {
                double s = 0.0;
                for (int64_t j = 0; j < m; j++) s += gram[i * m + j] * weight[j];
                t[i] = s;
            }
            for (int64_t j = 0; j < m; j++) {
                total2 += t[j] * weight[j];
                if (weight[j] > 0.0) words_on += wd[j];
            }
            to_total[0] = cw[0] = 0.0;
            for (int64_t a = 0; a < k; a++) {
                to_total[a + 1] = to_total[a] + t[idx[a]];
                cw[a + 1] = cw[a] + wd[idx[a]];
                for (int64_t b = 0; b < k; b++) g[a * k + b] = gram[idx[a] * m + idx[b]];
            }
            int64_t start, end;
            double run_value;
            const int64_t hit = dd_best_run(g, k, to_total, cw, total2, words_on, window, threshold, full_sim,
                                            half_words2, p, row_cum, run_score, block_best, &start, &end, &run_value);
            for (int64_t a = 0; a < k; a++) sc[idx[a]] = block_best[a];
            if (!hit || runs == max_runs) break;
            for (int64_t a = start; a < end; a++) {
                fl[idx[a]] = 1;
                sc[idx[a]] = run_value;
                weight[idx[a]] = 0.0;
            }
        }
        /* short blocks: the nearest substantive block before and after (the one there is, at
         * either end of the document); idx[i] becomes the first substantive block after i */
        for (int64_t i = m - 1, next = -1; i >= 0; i--) {
            idx[i] = next;
            if (substantive[off + i]) next = i;
        }
        for (int64_t i = 0, before = -1; i < m; i++) {
            if (substantive[off + i]) {
                before = i;
                continue;
            }
            const int64_t after = idx[i];
            if (before < 0 && after < 0) break; /* no substantive block at all: nothing moves */
            const int64_t lo = before < 0 ? after : before, hi = after < 0 ? before : after;
            sc[i] = sc[lo] < sc[hi] ? sc[lo] : sc[hi];
            fl[i] = fl[lo] && fl[hi];
        }
    }
}

/* ndarray.sum() of n doubles, in numpy's order: pairwise, eight running sums over blocks of
 * eight up to 128 elements (then the rest one by one), halves above (boilerplate._segment_sum). */
static double numpy_sum(const double *a, int64_t n) {
    if (n < 8) {
        double res = 0.0;
        for (int64_t i = 0; i < n; i++) res += a[i];
        return res;
    }
    if (n <= 128) {
        double r[8];
        for (int j = 0; j < 8; j++) r[j] = a[j];
        int64_t i = 8;
        for (; i < n - (n % 8); i += 8) {
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        }
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    int64_t half = n / 2;
    half -= half % 8;
    return numpy_sum(a, half) + numpy_sum(a + half, n - half);
}

/* The stage-2 context features of consecutive documents (boilerplate._context_many, number for
 * number): s the stage-1 scores, w the word counts and lw = log1p(w) (numpy's, passed in), of
 * documents of size[d] > 0 blocks. out is n x 20, row-major, in CONTEXT_FEATURES order, except
 * columns 15 and 16 (log1p of the neighbours' words), which are left to the caller. The
 * windows' sums run over each document padded with radius copies of its edge value (weights:
 * 1) on either side, one element after another, as np.cumsum adds them. Scratch: 2 (m + 16)
 * doubles for the largest document's m blocks. */
void dd_context_features(const double *s, const double *w, const double *lw, const int64_t *size, int64_t n_docs,
                         double long_words, double *scratch, double *out) {
    static const int64_t radii[5] = {2, 4, 8, 3, 8};
    static const int weighted[5] = {0, 0, 0, 1, 1};
    enum { COLUMNS = 20 };
    int64_t first = 0;
    for (int64_t d = 0; d < n_docs; first += size[d], d++) {
        const int64_t m = size[d];
        const double *sd = s + first, *wd = w + first, *lwd = lw + first;
        double *o = out + first * COLUMNS;
        double *sw = scratch, *mass = scratch + m;
        for (int64_t i = 0; i < m; i++) {
            sw[i] = sd[i] * wd[i];
            mass[i] = wd[i] * (1 - sd[i]);
        }
        const double w_sum = numpy_sum(wd, m), sw_sum = numpy_sum(sw, m);
        const double s_mean = numpy_sum(sd, m) / (double)m;
        const double s_wmean = sw_sum / (w_sum > 1e-9 ? w_sum : 1e-9);
        const double edge = w_sum > 0 ? s_wmean : s_mean;
        double total = numpy_sum(mass, m);
        total = total > 1e-9 ? total : 1e-9;
        double before_mass = 0.0, prev_long = edge;
        for (int64_t i = 0; i < m; i++) {
            double *row = o + i * COLUMNS;
            const double s_prev = i > 0 ? sd[i - 1] : edge, s_next = i < m - 1 ? sd[i + 1] : edge;
            row[0] = sd[i];
            row[1] = s_prev;
            row[2] = s_next;
            row[3] = s_prev > s_next ? s_prev : s_next;
            row[4] = prev_long;
            if (wd[i] >= long_words) prev_long = sd[i];
            before_mass += mass[i]; /* the running sum of the content mass, to block i */
            const double before = (before_mass - mass[i]) / total;
            double after = 1 - before - mass[i] / total;
            after = after > 0.0 ? after : 0.0;
            row[12] = before;
            row[13] = after;
            row[14] = before < after ? before : after;
            double r3 = i < 3 || i + 3 >= m ? 0.0 : lwd[i];
            for (int64_t j = i - 3; j <= i + 3; j++) {
                if (j >= 0 && j < m && lwd[j] > r3) r3 = lwd[j];
            }
            row[17] = r3;
            row[18] = s_mean;
            row[19] = s_wmean;
        }
        double next_long = edge;
        for (int64_t i = m - 1; i >= 0; i--) {
            double *row = o + i * COLUMNS;
            row[5] = next_long;
            if (wd[i] >= long_words) next_long = sd[i];
            row[6] = row[4] > row[5] ? row[4] : row[5];
        }
        /* window means: padded position p = i + radius; cv and cw the running sums of the padded
         * values and weights, in scratch (sw and mass are done with) */
        for (int k = 0; k < 5; k++) {
            const int64_t r = radii[k], padded = m + 2 * r;
            double *cv = scratch, *cw = scratch + padded;
            double run_v = 0.0, run_w = 0.0;
            for (int64_t q = 0; q < padded; q++) {
                const int64_t i = q - r;
                const int inside = i >= 0 && i < m;
                const double weight = inside ? (weighted[k] ? lwd[i] : 1.0) : 1.0;
                const double value = inside ? sd[i] * weight : edge;
                run_v = q ? run_v + value : value;
                run_w = q ? run_w + weight : weight;
                cv[q] = run_v;
                cw[q] = run_w;
            }
            for (int64_t i = 0; i < m; i++) {
                const double weight = weighted[k] ? lwd[i] : 1.0;
                const int64_t p = i + r;
                const double lo_v = i > 0 ? cv[i - 1] : 0.0, lo_w = i > 0 ? cw[i - 1] : 0.0;
                const double num = cv[p + r] - lo_v - sd[i] * weight;
                const double den = cw[p + r] - lo_w - weight;
                o[i * COLUMNS + 7 + k] = num / (den > 1e-9 ? den : 1e-9);
            }
        }
    }
}

/* Per document (size[d] blocks, one after another), what the boilerplate features compare a
 * block with (boilerplate._features_many): repeats[b], how many other blocks of b's document
 * have b's text hash; longest[d], the most words of a block of d (at least 1); top3[d], the mean
 * of its three longest blocks' words (at least 1). An empty document gets 1 and 1. Scratch: the
 * largest document's blocks, int64 (where their hashes are sorted to be counted). */
void dd_document_blocks(const int64_t *size, int64_t n_docs, const double *words, const uint64_t *text_hash,
                        int64_t *scratch, double *repeats, double *longest, double *top3) {
    int64_t first = 0;
    for (int64_t d = 0; d < n_docs; first += size[d], d++) {
        const int64_t m = size[d];
        const uint64_t *h = text_hash + first;
        if (m <= 32) { /* few blocks: compare every pair */
            for (int64_t i = 0; i < m; i++) {
                int64_t same = 0;
                for (int64_t j = 0; j < m; j++) same += h[j] == h[i];
                repeats[first + i] = (double)(same - 1);
            }
        } else { /* sorted, each block's hash counted by two binary searches */
            for (int64_t i = 0; i < m; i++) scratch[i] = (int64_t)h[i];
            sort_int64(scratch, m);
            for (int64_t i = 0; i < m; i++) {
                const int64_t key = (int64_t)h[i];
                int64_t lo = 0, hi = m;
                while (lo < hi) {
                    const int64_t mid = lo + (hi - lo) / 2;
                    if (scratch[mid] < key) lo = mid + 1; else hi = mid;
                }
                int64_t end = lo;
                while (end < m && scratch[end] == key) end++;
                repeats[first + i] = (double)(end - lo - 1);
            }
        }
        double best[3] = {-1.0, -1.0, -1.0}; /* the three most words, largest first */
        for (int64_t i = 0; i < m; i++) {
            const double w = words[first + i];
            if (w > best[0]) { best[2] = best[1]; best[1] = best[0]; best[0] = w; }
            else if (w > best[1]) { best[2] = best[1]; best[1] = w; }
            else if (w > best[2]) best[2] = w;
        }
        const int64_t taken = m < 3 ? m : 3;
        double sum = 0.0;
        for (int64_t k = 0; k < taken; k++) sum += best[k];
        longest[d] = m && best[0] > 1.0 ? best[0] : 1.0;
        const double mean = sum / (double)(taken > 0 ? taken : 1);
        top3[d] = mean > 1.0 ? mean : 1.0;
    }
}

/* The bucket directory of a sorted run: start[q] is the first position whose key >> shift is
 * at least q, for q in 0 .. n_buckets (the end: n); every key >> shift is below n_buckets.
 * Counted, then summed: walking the keys bucket by bucket mispredicted a branch at every
 * bucket's end (2-4 keys a bucket), 2.4 times the time for a run of 16M keys. */
void dd_run_directory(const void *keys, int64_t n, int64_t wide, int64_t shift, int64_t n_buckets, uint32_t *start) {
    memset(start, 0, (size_t)(n_buckets + 1) * sizeof(uint32_t));
    if (wide) {
        for (int64_t i = 0; i < n; i++) start[(((const uint64_t *)keys)[i] >> shift) + 1]++;
    } else {
        for (int64_t i = 0; i < n; i++) start[(((const uint32_t *)keys)[i] >> shift) + 1]++;
    }
    uint32_t sum = 0;
    for (int64_t q = 0; q <= n_buckets; q++) {
        sum += start[q];
        start[q] = sum;
    }
}

/* The stored form of 4-bit signatures: the low four bits of every value, two values a byte
 * (the even column low): out[i][c] = (sig[i][2c] & 15) | (sig[i][2c + 1] & 15) << 4. */
void dd_low_nibbles(const uint32_t *sig, int64_t n, int64_t num_perm, uint8_t *out) {
    const int64_t half = num_perm / 2;
    for (int64_t i = 0; i < n; i++) {
        const uint32_t *row = sig + i * num_perm;
        uint8_t *packed = out + i * half;
        for (int64_t c = 0; c < half; c++) packed[c] = (uint8_t)((row[2 * c] & 15) | (row[2 * c + 1] & 15) << 4);
    }
}

/* LSH band keys: keys[i][band] = sum over the band's rows r of sig[i][band * rows + r] *
 * consts[band][r] (mod 2^64), its top 32 bits when key_bits is 32. */
void dd_band_keys(const uint32_t *sig, int64_t n, int64_t num_perm, const uint64_t *consts, int64_t bands,
                  int64_t rows, int64_t key_bits, void *keys) {
    for (int64_t i = 0; i < n; i++) {
        const uint32_t *row = sig + i * num_perm;
        for (int64_t band = 0; band < bands; band++) {
            uint64_t key = 0;
            for (int64_t r = 0; r < rows; r++) key += (uint64_t)row[band * rows + r] * consts[band * rows + r];
            if (key_bits == 32) {
                ((uint32_t *)keys)[i * bands + band] = (uint32_t)(key >> 32);
            } else {
                ((uint64_t *)keys)[i * bands + band] = key;
            }
        }
    }
}

/* The dense Gram matrix x_d x_d^T of the rows lo .. lo + n - 1 of a CSR matrix (data, indices,
 * indptr), number for number what offtopic._block_grams gives: entry (i, j) adds the products
 * x_if * x_jf one at a time, from 0, in the stored order of row i. gram (n x n) is zeroed;
 * scratch holds 3 x (the rows' stored entries) int64. */
static void dd_doc_gram(const double *data, const int32_t *indices, const int64_t *indptr, int64_t lo, int64_t n,
                 int64_t *scratch, double *gram) {
    const int64_t first = indptr[lo], count = indptr[lo + n] - first;
    int64_t *by_feature = scratch, *row_of = scratch + count, *group_of = scratch + 2 * count;
    for (int64_t r = 0; r < n; r++) {
        for (int64_t e = indptr[lo + r]; e < indptr[lo + r + 1]; e++) row_of[e - first] = r;
    }
    /* entries by feature, then by place (so by row): feature in the high 32 bits */
    for (int64_t e = 0; e < count; e++) by_feature[e] = ((int64_t)indices[first + e] << 32) | e;
    sort_int64(by_feature, count);
    /* group_of[e]: where the entries of e's feature begin in by_feature */
    for (int64_t s = 0, start = 0; s < count; s++) {
        if (s > 0 && (by_feature[s] >> 32) != (by_feature[s - 1] >> 32)) start = s;
        group_of[by_feature[s] & 0xFFFFFFFF] = start;
    }
    for (int64_t e = 0; e < count; e++) {
        const int64_t feature = indices[first + e];
        int64_t a = group_of[e];
        double *out = gram + row_of[e] * n;
        const double v = data[first + e];
        for (; a < count && (by_feature[a] >> 32) == feature; a++) {
            const int64_t other = by_feature[a] & 0xFFFFFFFF;
            out[row_of[other]] += v * data[first + other];
        }
    }
}

/* dd_doc_gram for documents d of rows lo[d] .. lo[d] + n[d] - 1, their matrices one after
 * another in grams (zeroed, sum of n[d]^2); scratch for the largest document's entries. */
void dd_doc_grams(const double *data, const int32_t *indices, const int64_t *indptr, const int64_t *lo,
                  const int64_t *n, int64_t n_docs, int64_t *scratch, double *grams) {
    for (int64_t d = 0; d < n_docs; d++) {
        dd_doc_gram(data, indices, indptr, lo[d], n[d], scratch, grams);
        grams += n[d] * n[d];
    }
}

/* The b-bit similarity estimate of lsh.MinHashLSHIndex._estimate for 4-bit stored values:
 * rows a and b agree at a permutation when their low four bits do. */
static inline double nibble_estimate(const uint32_t *a, const uint32_t *b, int64_t num_perm, double e) {
    int64_t differ = 0;
    for (int64_t p = 0; p < num_perm; p++) differ += ((a[p] ^ b[p]) & 15u) != 0;
    double q = 1.0 - (double)differ / (double)num_perm;
    double estimate = (q - e) / (1.0 - e);
    return estimate < 0.0 ? 0.0 : estimate > 1.0 ? 1.0 : estimate;
}

/* The copy pass of a chunk of documents, document by document, as pipeline.Cleaner._copies
 * makes it: indexing.ChunkLookup's candidates among the chunk's earlier kept blocks (rows
 * sharing one of the shared keys sh_key[sh_ptr[r]..sh_ptr[r+1]]) against the tables' match
 * (f_entry/f_score/f_exact, entry -1 for none); deciding.find_copies' rules 2-4; the kept blocks
 * registered (entry_at: base, base + 1, ... in row order; -1 for a copy); and the Copies arrays
 * (out_reason, out_score, of, cluster, cross). earlier[r] is rule 1's block (document-relative).
 * Scratch: head (n_keys), next and reg_row (sh_ptr[n]), mark and cand (n; cand also holds the
 * run extension's queue, then the blocks' roots) int64; c_entry int64, c_score double, c_exact
 * and confirmed uint8, and the verdicts (reason, score, local, entry, stays), n each. Returns the
 * number of kept blocks. */
int64_t dd_chunk_copies(const uint32_t *sig, int64_t num_perm, const uint64_t *exact, const uint8_t *is_short,
                        const int64_t *earlier, const double *earlier_score, const int64_t *doc_start,
                        int64_t n_docs, const int64_t *f_entry, const double *f_score, const uint8_t *f_exact,
                        const int64_t *sh_ptr, const int64_t *sh_key, int64_t n_keys, int64_t base,
                        int64_t use_cross, double threshold, double run_threshold, double e, int64_t *head,
                        int64_t *next, int64_t *reg_row, int64_t *mark, int64_t *cand, int64_t *c_entry,
                        double *c_score, uint8_t *c_exact, uint8_t *confirmed, int8_t *reason, double *score,
                        int64_t *local, int64_t *entry, uint8_t *stays, int64_t *entry_at, int8_t *out_reason,
                        double *out_score, int64_t *of, int64_t *cluster, uint8_t *cross) {
    const float run32 = (float)run_threshold; /* numpy compares a float32 similarity in float32 */
    int64_t kept = 0, n_regs = 0;
    for (int64_t k = 0; k < n_keys; k++) head[k] = -1;
    for (int64_t r = 0; r < doc_start[n_docs]; r++) mark[r] = -1;
    for (int64_t d = 0; d < n_docs; d++) {
        const int64_t lo = doc_start[d], hi = doc_start[d + 1], k = hi - lo;
        /* ChunkLookup.lookup: the best of the tables' match and the chunk's earlier kept blocks */
        for (int64_t r = lo; r < hi; r++) {
            c_entry[r] = f_entry[r], c_score[r] = f_score[r], c_exact[r] = f_exact[r];
            if (!use_cross || sh_ptr[r + 1] == sh_ptr[r]) continue;
            int64_t m = 0;
            for (int64_t s = sh_ptr[r]; s < sh_ptr[r + 1]; s++)
                for (int64_t g = head[sh_key[s]]; g >= 0; g = next[g])
                    if (mark[reg_row[g]] != r) mark[reg_row[g]] = r, cand[m++] = reg_row[g];
            if (m == 0) continue;
            sort_int64(cand, m); /* rows ascend as their entries do */
            int64_t best = -1;
            double best_score = 0.0;
            uint8_t best_exact = 0;
            for (int64_t c = 0; c < m; c++)
                if (exact[cand[c]] == exact[r]) { best = cand[c], best_score = 1.0, best_exact = 1; break; }
            if (best < 0) {
                for (int64_t c = 0; c < m; c++) {
                    double s = nibble_estimate(sig + cand[c] * num_perm, sig + r * num_perm, num_perm, e);
                    if (best < 0 || s > best_score) best = cand[c], best_score = s;
                }
                if (!(best_score >= threshold)) continue;
            }
            /* indexing._better: identical text first, then the higher score, then the earlier entry
             * (the tables' entries all precede the chunk's) */
            if (c_entry[r] < 0 || (best_exact && !c_exact[r]) || (best_exact == c_exact[r] && best_score > c_score[r]))
                c_entry[r] = entry_at[best], c_score[r] = best_score, c_exact[r] = best_exact;
        }
        /* deciding.find_copies: the in-document copy against the other documents' one */
        int any_local = 0;
        for (int64_t r = lo; r < hi; r++) {
            reason[r] = 0, score[r] = NAN, local[r] = -1, entry[r] = -1, stays[r] = 0;
            const int64_t j = earlier[r];
            const int match = use_cross && c_entry[r] >= 0;
            if (j < 0 && !match) continue;
            const uint8_t same = j >= 0 && exact[lo + j] == exact[r];
            if (match && (!is_short[r] || c_exact[r])) {
                if (j < 0 || c_exact[r] > same || (c_exact[r] == same && c_score[r] > earlier_score[r])) {
                    reason[r] = c_exact[r] ? 1 : 2, score[r] = c_score[r], entry[r] = c_entry[r];
                    continue;
                }
            }
            if (j >= 0) reason[r] = same ? 1 : 2, score[r] = earlier_score[r], local[r] = j, any_local = 1;
        }
        /* deciding._extend_runs: a repeated passage's neighbours at the run threshold. Each copy
         * is tried once, in the order the passes over every block would first reach it (see
         * there): a FIFO of copies (cand[lo..hi), free once the lookups above are done), a block
         * found by the step forward tried right after the block that found it. */
        int64_t *queue = cand + lo, head_at = 0, tail_at = 0;
        if (any_local)
            for (int64_t i = 0; i < k; i++)
                if (local[lo + i] >= 0) queue[tail_at++] = i;
        while (head_at < tail_at) {
            for (int64_t i = queue[head_at++]; i >= 0;) {
                const int64_t original = local[lo + i];
                int64_t forward = -1;
                for (int step = 1; step >= -1; step -= 2) {
                    const int64_t a = i + step, t = original + step;
                    if (t < 0 || a >= k || a <= original || t >= a) continue;
                    if (local[lo + a] >= 0 || entry[lo + a] >= 0 || local[lo + t] >= 0 || entry[lo + t] >= 0 ||
                        is_short[lo + a] != is_short[lo + t])
                        continue;
                    const uint32_t *x = sig + (lo + a) * num_perm, *y = sig + (lo + t) * num_perm;
                    int64_t agree = 0;
                    for (int64_t p = 0; p < num_perm; p++) agree += x[p] == y[p];
                    const float sim = (float)((double)agree / (double)num_perm);
                    if (sim >= run32) {
                        reason[lo + a] = 2, score[lo + a] = (double)sim, local[lo + a] = t;
                        if (step == 1) forward = a;
                        else queue[tail_at++] = a;
                    }
                }
                i = forward;
            }
        }
        /* deciding._keep_lone_short_blocks: a short copy goes only when its stretch of consecutive
         * copies holds a copy that is not short (one sweep each way) */
        for (int64_t r = lo, anchored = 0; r < hi; r++) {
            const int copied = local[r] >= 0 || entry[r] >= 0;
            anchored = copied && (anchored || !is_short[r]);
            confirmed[r] = (uint8_t)anchored;
        }
        for (int64_t r = hi - 1, anchored = 0; r >= lo; r--) {
            const int copied = local[r] >= 0 || entry[r] >= 0;
            anchored = copied && (anchored || !is_short[r]);
            confirmed[r] |= (uint8_t)anchored;
        }
        for (int64_t r = lo; r < hi; r++) stays[r] = is_short[r] && (local[r] >= 0 || entry[r] >= 0) && !confirmed[r];
        /* the index registers the kept blocks; ChunkLookup.added files them under their shared keys */
        for (int64_t r = lo; r < hi; r++) {
            entry_at[r] = -1;
            if (local[r] >= 0 || entry[r] >= 0) continue;
            entry_at[r] = base + kept++;
            for (int64_t s = sh_ptr[r]; s < sh_ptr[r + 1]; s++)
                reg_row[n_regs] = r, next[n_regs] = head[sh_key[s]], head[sh_key[s]] = n_regs, n_regs++;
        }
        /* Copies: each block's group is that of the copy its pointers lead to. They lead to
         * earlier blocks, whose roots (in cand, free by now) are known by then */
        int64_t *roots = cand;
        for (int64_t r = lo; r < hi; r++) {
            const int64_t root = roots[r] = local[r] >= 0 ? roots[lo + local[r]] : r;
            const int across = entry[root] >= 0;
            const int64_t group = across ? entry[root] : entry_at[root];
            const int copied = (local[r] >= 0 || entry[r] >= 0) && !stays[r];
            out_reason[r] = copied ? reason[r] : 0;
            out_score[r] = copied ? score[r] : NAN;
            of[r] = copied ? group : -1;
            cluster[r] = group;
            cross[r] = copied && across;
        }
    }
    return kept;
}

/* ---- vocab_scan: the backtracking matcher of dedupe.matcher ------------------------------ */
enum { VM_CHAR = 1, VM_CLASS, VM_ANY, VM_SPLIT, VM_JMP, VM_MATCH, VM_BOUNDARY, VM_LINE_START, VM_TEXT_START,
       VM_BEHIND };
#define VM_STEPS 100000 /* per position: far above what the vocabulary needs; beyond it, Python decides */

typedef struct {
    const void *text;
    int wide;
    const int32_t *prog;
    const int32_t *skips; /* per guard, 130 columns: where its SPLIT leads (see matcher._skips) */
    const uint32_t *bmp;
    const int64_t *astral; /* (first, last, bits) rows of the planes in astral_planes */
    int64_t n_astral;
    int64_t astral_planes; /* bit p: plane p's rows are there (each plane is computed on first sight) */
    uint32_t word_bit;
    int64_t *stack;
    int64_t stack_cap;
    int status; /* 1: out of stack or steps, 2: a code point of a plane above the BMP without rows */
} Vm;

static inline uint32_t vm_at(const Vm *vm, int64_t i) {
    return vm->wide ? ((const uint32_t *)vm->text)[i] : ((const uint8_t *)vm->text)[i];
}

static inline uint32_t vm_bits(Vm *vm, uint32_t c) {
    if (c < 0x10000) return vm->bmp[c];
    if (!((vm->astral_planes >> (c >> 16)) & 1)) {
        vm->status = 2;
        return 0;
    }
    int64_t lo = 0, hi = vm->n_astral;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (vm->astral[3 * mid + 1] < (int64_t)c) lo = mid + 1;
        else hi = mid;
    }
    return lo < vm->n_astral && vm->astral[3 * lo] <= (int64_t)c ? (uint32_t)vm->astral[3 * lo + 2] : 0;
}

static inline int vm_word(Vm *vm, uint32_t c) { return (vm_bits(vm, c) >> vm->word_bit) & 1; }

/* The end of the match starting at p (the text ending at e), -1 for none; *label its label. */
static int64_t vm_match(Vm *vm, int64_t p, int64_t e, int32_t *label) {
    int64_t sp = 0, pc = 0, pos = p, steps = 0;
    for (;;) {
        const int32_t *ins = vm->prog + 4 * pc;
        int ok = 1;
        if (++steps > VM_STEPS) {
            vm->status = 1;
            return -1;
        }
        switch (ins[0]) {
        case VM_CHAR:
            ok = pos < e && vm_at(vm, pos) == (uint32_t)ins[1];
            pos += ok, pc++;
            break;
        case VM_CLASS:
            ok = pos < e && (int)((vm_bits(vm, vm_at(vm, pos)) >> ins[1]) & 1) != ins[2];
            pos += ok, pc++;
            break;
        case VM_ANY:
            ok = pos < e && vm_at(vm, pos) != '\n';
            pos += ok, pc++;
            break;
        case VM_SPLIT:
            if (ins[3] >= 0) { /* the preferred branch cannot begin here: on to the first that can */
                const uint32_t c = pos < e ? vm_at(vm, pos) : 0;
                const int32_t to = vm->skips[130 * ins[3] + (pos >= e ? 129 : c < 128 ? (int)c : 128)];
                if (to != pc) {
                    pc = to;
                    break;
                }
            }
            if (sp == vm->stack_cap) {
                vm->status = 1;
                return -1;
            }
            vm->stack[2 * sp] = ins[2], vm->stack[2 * sp + 1] = pos, sp++;
            pc = ins[1];
            break;
        case VM_JMP:
            pc = ins[1];
            break;
        case VM_MATCH:
            *label = ins[1];
            return pos;
        case VM_BOUNDARY: {
            const int before = pos > 0 && vm_word(vm, vm_at(vm, pos - 1));
            const int after = pos < e && vm_word(vm, vm_at(vm, pos));
            ok = (before != after) != ins[2];
            pc++;
            break;
        }
        case VM_LINE_START:
            ok = pos == 0 || vm_at(vm, pos - 1) == '\n';
            pc++;
            break;
        case VM_TEXT_START:
            ok = pos == 0;
            pc++;
            break;
        case VM_BEHIND: {
            const int has = pos > 0 && ((vm_bits(vm, vm_at(vm, pos - 1)) >> ins[1]) & 1);
            ok = has != ins[2];
            pc++;
            break;
        }
        default:
            vm->status = 1;
            return -1;
        }
        if (vm->status) return -1;
        if (!ok) {
            if (sp == 0) return -1;
            sp--;
            pc = vm->stack[2 * sp], pos = vm->stack[2 * sp + 1];
        }
    }
}

/* The matches finditer finds, given every position where one may start (sorted; cand_end[i] is
 * where the text of position i ends): each position is tried unless the last match ran past it.
 * Returns the number of matches (start, label), or -1 / -2 (see Vm.status): Python decides. */
int64_t dd_vocab_scan(const void *text, int64_t wide, const int64_t *cand, const int64_t *cand_end, int64_t n_cand,
                      const int32_t *prog, const int32_t *skips, const uint32_t *bmp, const int64_t *astral,
                      int64_t n_astral, int64_t astral_planes, int64_t word_bit, int64_t *stack, int64_t stack_cap,
                      int64_t *out_pos, int32_t *out_label) {
    Vm vm = {text, (int)wide, prog, skips, bmp, astral, n_astral, astral_planes, (uint32_t)word_bit, stack, stack_cap, 0};
    int64_t resume = 0, count = 0;
    for (int64_t i = 0; i < n_cand; i++) {
        if (cand[i] < resume) continue;
        int32_t label = 0;
        const int64_t end = vm_match(&vm, cand[i], cand_end[i], &label);
        if (vm.status) return -vm.status;
        if (end >= 0) out_pos[count] = cand[i], out_label[count] = label, count++, resume = end;
    }
    return count;
}

/* An importable module too (setuptools builds it as one), though its functions are reached
 * through ctypes. */
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", "Compiled kernels (see dedupe.native).", -1,
                                    NULL};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }

/* The inside of a JSON string holding the UTF-8 bytes in[0..n), byte for byte what Python's
 * json.dumps(text, ensure_ascii=False) puts between its quotes: " and \ escaped, \n \r \t \b \f
 * by name, the other control characters as \u00xx (lower-case hex), every other byte as it is
 * (UTF-8 sequences pass through whole). out has room for 6n bytes; returns the length written.
 * Python's encoder reads a document's text character by character; this copies the runs
 * between escapes whole. */
int64_t dd_json_escape(const uint8_t *in, int64_t n, uint8_t *out) {
    static const char hex[] = "0123456789abcdef";
    static const uint8_t special[256] = {[0 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1};
    uint8_t *o = out;
    int64_t i = 0;
    while (i < n) {
        int64_t j = i;
        while (j < n && !special[in[j]]) j++;
        memcpy(o, in + i, (size_t)(j - i));
        o += j - i;
        if (j == n) break;
        const uint8_t c = in[j];
        i = j + 1;
        *o++ = '\\';
        switch (c) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '\n': *o++ = 'n'; break;
            case '\r': *o++ = 'r'; break;
            case '\t': *o++ = 't'; break;
            case '\b': *o++ = 'b'; break;
            case '\f': *o++ = 'f'; break;
            default:
                *o++ = 'u'; *o++ = '0'; *o++ = '0';
                *o++ = (uint8_t)hex[c >> 4]; *o++ = (uint8_t)hex[c & 15];
        }
    }
    return (int64_t)(o - out);
}
