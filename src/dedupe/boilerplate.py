"""Block-level boilerplate classifier: P(boilerplate) for every block of a scraped document.

Scraped text keeps the page furniture as single blocks: navigation ("Log In"), promos ("Join Our
Whatsapp Channel..."), "Read More: ..." teasers, credits ("[Image Credits: Reuters]"), stamps
("Updated: October 27, 2022, 9:05 AM"), share buttons, cookie notices and footers. This module
scores each block in two stages (stacking)::

    stage 1:  s_i  = f1(x_i)                    x_i = features of block i and its place in the doc
    stage 2:  p_i  = f2(x_i, c_i(s))            c_i = smoothed stage-1 scores / lengths around i

so that a short heading between two long article paragraphs ("Material support") is kept, as
jusText does with its context pass, while the same words in a run of menu items are stripped.
There is deliberately no absolute-position feature, and beyond the document's edges the context
reads as the document's average score: on raw pages the first and last blocks are menus, but
extracted text often starts right at the article, and host-grouped CV on aeb.dev was no worse
without the position prior (F1 0.942 without, 0.939 with). Nor are there features of the
document's size (block count, a block's share of all words): aeb pages have ~170 blocks, so a
linear model extrapolates them wildly on short documents (dropping them also raised CV F1).
f1 and f2 are standardised logistic regressions, ``sigmoid(((x - mean) / scale) . w + b)``,
trained with scikit-learn; the stage-2 training set uses out-of-fold stage-1 scores, so stage 2
learns how noisy s is on pages stage 1 has not seen. The shipped model is a JSON file of plain
numbers (means, scales, weights), loaded with ``json`` and evaluated with numpy: no pickle, no
network, no scikit-learn needed at run time.

Features are computed for all blocks of a document at once: the blocks are joined with newlines,
turned into a code-point array (a lookup table gives each code point its space / upper / alpha /
digit / punctuation class) and every per-block count comes from one ``bincount`` of (block,
class, starts a word); vocabulary features come
from ONE precompiled regex over the joined, lower-cased text, mapped to blocks with
``searchsorted``. The regex is only tried where a match may start: each distinct word is looked
at once (a memo shared with the stop-word test), and a pattern derived from the vocabulary says
at which of its characters a match could begin (a few percent of the words do). With the
compiled kernels the pattern itself runs as a :mod:`dedupe.matcher` program over all candidate
positions of a chunk in one call (``re`` finds the same matches, and is the fallback). The cost
per document is a handful of numpy passes, not a regex per block.

Example (the shipped model)::

    >>> clf = BoilerplateClassifier.load()
    >>> p = clf.predict_proba(["Log In", "The minister said on Monday that the talks would "
    ...     "resume next week, after both sides agreed to a ceasefire in the region.",
    ...     "Follow us on Twitter", "Share this article"])
    >>> (p >= clf.threshold).tolist()
    [True, False, True, True]
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from itertools import chain
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from . import native
from .errors import ConfigError, InputError
from .matcher import compile_pattern, first_characters
from .reading import UnreadableJSON, parse_json
from .offtopic import lowered_map
from .shingling import sequence_hashes
from .tokentable import UNSPACED_CLASS, UNSPACED_RANGES, TokenTable, is_unspaced, token_keys, token_runs
from .writing import check_outputs, output_file

FORMAT_VERSION = 1
MODEL_NAME = "boilerplate-v1"

# A small English stop list: the stop-word share separates running prose (~40-55% stop words)
# from menus, headlines and credits (~0-20%), as in jusText.
STOP_WORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had
has have having he her here hers herself him himself his how i if in into is it its itself just
me more most my myself no nor not now of off on once only or other our ours ourselves out over own
same she should so some such than that the their theirs them themselves then there these they this
those through to too under until up very was we were what when where which while who whom why will
with would you your yours yourself yourselves said says may might must shall us one two new
""".split())

_STRIP_CHARS = "\"'“”‘’()[]{}.,;:!?«»—–-…*•|/"

def _unspaced_phrases(*phrases: str) -> str:
    """Phrases of scripts written without spaces as a regex that also matches them as the
    classifier reads such text, a space after each character (see ``_spaced``)."""
    return "|".join(r"\ ?".join(map(re.escape, phrase)) for phrase in phrases)


# Markers of a link to another story, in English and the languages below: in the vocabulary
# (promo) and, at a block's start, the cross-link rule (see _CROSS_LINK).
_CROSS_LINK_MARKERS = r"""read\ more|read\ also|also\ read|read\ next|must\ read|see\ also|don'?t\ miss
   |related|recommended|you\ may\ also|lesen\ sie\ (?:auch|mehr)|weiterlesen|mehr\ zum\ thema|à\ lire
   |lire\ (?:aussi|également|la\ suite)|voir\ aussi|lee\ también|lea\ también|leer\ más
   |te\ puede\ interesar|noticias\ relacionadas|leia\ (?:também|mais)|veja\ também|saiba\ mais
   |leggi\ anche|lees\ (?:ook|meer|verder)|läs\ (?:också|mer)|læs\ (?:også|mere)|les\ (?:også|mer)
   |czytaj\ (?:też|także|więcej)|zobacz\ (?:też|także)|ilgili\ haber(?:ler)?|ayrıca\ okuyun
   |devamını\ oku|διαβάστε\ (?:επίσης|ακόμη)|đọc\ thêm|xem\ thêm|tin\ liên\ quan
   |читайте\ также|читать\ (?:далее|также)|смотрите\ также|подробнее|더\ 읽어보기|관련\ 기사
   |עוד\ בנושא|קראו\ עוד|اقرأ\ أيضاً?|यह\ भी\ प(?:ढ|ढ़)
   |""" + _unspaced_phrases("相关阅读", "相關閱讀", "延伸阅读", "延伸閱讀", "推荐阅读", "相关新闻", "相關新聞",
                           "関連記事", "続きを読む", "あわせて読みたい", "อ่านเพิ่มเติม", "ข่าวที่เกี่ยวข้อง")

# Vocabulary groups: one alternation, one finditer per document; the group that matched says which
# feature to count. Lower-cased text; \n separates blocks, so (?:^|\n) anchors at a block start.
# After each English list come the same words in the languages of most news on the web (German,
# French, Spanish, Portuguese, Italian, Dutch, the Scandinavian languages, Polish, Turkish,
# Russian, Chinese, Japanese, Arabic, Hindi; the links to other stories in Greek, Vietnamese,
# Korean, Hebrew and Thai too): a share button or a "Lesen Sie auch" reads as its English
# counterpart does. The model was trained on English pages, so these only translate what it
# learnt there. Measured (5 folds held out by site on aeb.dev, whose 10 pages not in English
# are Portuguese, Russian, German and Japanese): F1 0.9491 without them, 0.9483 with them
# and the cross-link rule, 0.9492 with the rule and English markers only.
_VOCAB = re.compile(r"""
 (?P<url>https?://|www\.|\.(?:com|org|net|co\.uk)\b|(?<!\w)[@#]\w)
|(?P<social>\b(?:share|shares|shared|tweet|facebook|twitter|instagram|linkedin|youtube|pinterest
   |reddit|whatsapp|telegram|flipboard|follow(?:\ us)?|e-?mail|print|copy\ link
   |teilen|folgen\ sie\ uns|partager|partagez|suivez-nous|compartir|compártelo|síguenos
   |compartilhe|compartilhar|partilhar|siga-nos|condividi|seguici|delen|volg\ ons|dela|del\ på
   |udostępnij|paylaş|поделиться|поделитесь|شارك|""" + _unspaced_phrases("分享", "シェア") + r""")\b)
|(?P<promo>\b(?:subscri\w*|newsletters?|sign\ ?up|click|tap\ here
   |download|advertis\w*|sponsor\w*|powered\ by|log\ ?in|log\ ?out|sign\ ?in|register|comments?
   |reply|trending|most\ (?:read|popular|viewed|shared)|more\ from
   |more\ stories|watch|videos?|podcasts?|continue\ reading|skip\ to|menu|search|home\ ?page|apps?
   |catch\ all|breaking\ news|join\ our|latest\ news
   |top\ stories|load\ more|show\ more|next\ article|previous\ article|back\ to\ top
   |free\ trial|offer|deals?|learn\ more|get\ the|upgrade|premium|account|membership
   |abonnier\w*|anzeige|werbung|abonnez-vous|s'abonner|publicité|en\ savoir\ plus|ver\ más
   |suscríbete|publicidad|publicidade|assine|pubblicità|abbonati|advertentie|annons|annonse
   |reklama|reklam|abone\ ol|реклама|подписаться|подпишитесь|""" + _unspaced_phrases("关注我们", "广告") + r"""
   |""" + _CROSS_LINK_MARKERS + r""")\b)
|(?P<legal>cookies?|privacy|terms\ (?:of|and)|contact\ us|about\ us|all\ rights|rights\ reserved
   |copyright|©|disclaimer|accessibility|sitemap|site\ map|careers
   |\b(?:impressum|datenschutz\w*|alle\ rechte\ vorbehalten|tous\ droits\ réservés|mentions\ légales
   |todos\ los\ derechos\ reservados|todos\ os\ direitos\ reservados|tutti\ i\ diritti\ riservati
   |alle\ rechten\ voorbehouden|все\ права\ защищены|""" + _unspaced_phrases("版权所有") + r""")\b)
|(?P<credit>\b(?:image\ credits?|photo(?:graph)?s?|credits?|getty|reuters|afp|ap|shutterstock
   |file\ photo|courtesy|illustration|pictured|caption|fotos?|bild|bildquelle|фото)\b)
|(?P<date>\b(?:updated|published|posted|last\ modified)\b
   |\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\ \d{1,2}\b
   |\b\d{1,2}\ (?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\b
   |\b\d{1,2}:\d{2}\b|\b(?:19|20)\d{2}\b|\b\d+\ (?:minutes?|mins?|hours?|hrs?|days?)\ ago\b
   |\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b)
|(?P<byline>(?:^|\n)by\s|\b(?:staff\ writer|correspondent|reporter|columnist|contributor
   |editor|written\ by)\b)
""", re.VERBOSE | re.MULTILINE)
_GROUPS = ("url", "social", "promo", "legal", "credit", "date", "byline")

# Character classes as bit flags in a lookup table over the Basic Multilingual Plane (code points
# above it, mostly emoji, count as "other").
_SPACE, _UPPER, _ALPHA, _DIGIT, _PUNCT, _ENDP, _QUOTE, _COLON, _SEP = (1 << k for k in range(9))
_TABLE: np.ndarray | None = None


def _char_table() -> np.ndarray:
    global _TABLE
    if _TABLE is None:
        table = np.zeros(0x10000, np.uint16)
        for cp in range(0x10000):
            ch = chr(cp)
            flags = 0
            if ch.isspace():
                flags |= _SPACE
            elif ch.isalpha() or unicodedata.category(ch) in ("Mn", "Mc"):
                # the vowel signs of Devanagari, Bengali, Thai... are marks, and they are half
                # the letters of a word there: counted with the letters (they were "other",
                # and a Hindi paragraph read as one of symbols)
                flags |= _ALPHA | (_UPPER if ch.isupper() else 0)
            elif ch.isdigit():
                flags |= _DIGIT
            elif unicodedata.category(ch)[0] in "PS":
                flags |= _PUNCT
            table[cp] = flags
        # full stops of other scripts too: the danda (Devanagari, Bengali), Urdu's, Armenian's,
        # Ethiopic's, Myanmar's, Khmer's, Arabic's question mark, and the CJK ones
        for ch in ".!?…。！？｡\u0964\u0965\u06d4\u0589\u1362\u104b\u17d4\u17d5\u061f":
            table[ord(ch)] |= _ENDP
        for ch in "\"'”’»)]」』）":
            table[ord(ch)] |= _QUOTE
        table[ord(":")] |= _COLON
        table[ord("：")] |= _COLON
        for ch in "|•·»/>›":
            table[ord(ch)] |= _SEP
        _TABLE = table
    return _TABLE


# What _features_many counts per block, one kind per character (the flags above are exclusive
# but for _UPPER within _ALPHA and _SEP within _PUNCT): each block's counts of every kind, as a
# word start or not, come from one bincount.
_OTHER, _SPACE_KIND, _LOWER_KIND, _UPPER_KIND, _DIGIT_KIND, _PUNCT_KIND, _SEP_KIND = range(7)
_N_KINDS = 7
_KINDS = None


def _kind_table() -> np.ndarray:
    """Code point (up to 0xFFFF) -> its kind, from :func:`_char_table`'s flags."""
    global _KINDS
    if _KINDS is None:
        flags = _char_table()
        _KINDS = np.select(
            [(flags & _SPACE) != 0, (flags & _UPPER) != 0, (flags & _ALPHA) != 0, (flags & _DIGIT) != 0,
             (flags & _SEP) != 0, (flags & _PUNCT) != 0],
            [_SPACE_KIND, _UPPER_KIND, _LOWER_KIND, _DIGIT_KIND, _SEP_KIND, _PUNCT_KIND], _OTHER).astype(np.uint8)
    return _KINDS


BLOCK_FEATURES = (
    "log_chars", "log_words", "mean_word_len", "stop_ratio", "cap_word_ratio", "alpha_ratio",
    "digit_ratio", "punct_ratio", "sep_count", "ends_sentence", "ends_colon", "starts_lower",
    "no_letters", *(f"vocab_{g}" for g in _GROUPS), "vocab_at_start", "repeats_in_doc",
    "len_vs_max", "len_vs_top3",
)
_NO_LETTERS = BLOCK_FEATURES.index("no_letters")
_AT_START = BLOCK_FEATURES.index("vocab_at_start")
_LOG_WORDS = BLOCK_FEATURES.index("log_words")

# A block that opens with a link to another story ("Read more: Flooding closes roads in the
# north", "Related: 7 Strange Signs...", "Lire aussi : ...") is a teaser, whatever the case of
# the headline after it: P(boilerplate) is at least CROSS_LINK_P. The model alone kept
# sentence-case ones (P 0.27 for that "Read more") and read title-case ones as boilerplate;
# every such block of the labelled pages (aeb.dev: 46) is boilerplate. The marker (and at most
# two words after it: "Related articles:") must end at a separator or at the block's end, so
# "Related to this, the ministry said" is prose.
CROSS_LINK_P = 0.95
CROSS_LINK_MAX_WORDS = 40
_CROSS_LINK = re.compile(r"\W{0,3}(?:" + _CROSS_LINK_MARKERS + r")"
                         r"[^\s\w:|»›>\-–—：]*"  # the marks ending a word (पढ़ें), "..."
                         r"(?:\ [^\W\d_]+){0,2}\s*(?:[:|»›>\-–—：]|$)", re.VERBOSE | re.IGNORECASE)
CONTEXT_FEATURES = (
    "s_self", "s_prev", "s_next", "s_max_neighbours", "s_prev_long", "s_next_long",
    "s_max_long", "s_mean_2", "s_mean_4", "s_mean_8", "s_wmean_3", "s_wmean_8",
    "content_before", "content_after", "content_sandwich", "log_words_prev", "log_words_next",
    "log_words_max_3", "doc_s_mean", "doc_s_wmean",
)
LONG_BLOCK_WORDS = 20  # a block this long decides its short neighbours' context (jusText-like)


def block_features(blocks: Sequence[str]) -> np.ndarray:
    """Stage-1 features of every block of one document, shape (n_blocks, len(BLOCK_FEATURES)).

    >>> block_features(["Log In", "He said it was fine."]).shape
    (2, 24)
    """
    return _block_features(blocks)[0]


def _block_features(blocks: Sequence[str], token_codes: TokenTable | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(features, word counts) of one document's blocks; word count = len(text.split())."""
    feats, words, _ = _features_many([blocks], token_codes)
    return feats, words


# A match of _VOCAB can only start where this (zero-width) guard holds: at a word start (every
# \b-anchored alternative, \d included, and `^by\s`), at \n . @ # ©, or at the start of one of the
# alternatives that are not anchored at a word start. Checking it first skips the ~80% of positions
# that lie inside words without trying every alternative there; the matches are the same.
_VOCAB_GUARD = (r"(?=\b\w|[\n.@\#©]|http|www\.|cookie|privacy|terms\ |contact\ us|about\ us"
                r"|all\ rights|rights\ reserved|copyright|disclaimer|accessibility|sitemap"
                r"|site\ map|careers)")


def _first_characters(items) -> str | None:
    """A character class (regex text) holding the first character of every match of the parsed
    pattern ``items``, or None when a match may start anywhere or be empty (see
    :func:`dedupe.matcher.first_characters`, which the compiled matcher's guards use too)."""
    from re import _constants as C

    first, nullable = first_characters(items)
    if first is None or nullable:
        return None
    categories = {C.CATEGORY_DIGIT: r"\d", C.CATEGORY_WORD: r"\w", C.CATEGORY_SPACE: r"\s"}
    parts = []
    for op, value in sorted(first, key=repr):  # one order, whatever the set's
        if op is C.LITERAL:
            parts.append(re.escape(chr(value)))
        elif op is C.RANGE:
            parts.append(re.escape(chr(value[0])) + "-" + re.escape(chr(value[1])))
        elif value in categories:
            parts.append(categories[value])
        else:
            return None
    return "".join(parts)


def _scan_pattern() -> re.Pattern:
    """_VOCAB behind _VOCAB_GUARD, each group behind a look-ahead for its possible first
    characters: the same matches, but most groups are dismissed by one class test."""
    from re import _parser

    pattern = _VOCAB.pattern
    parsed = _parser.parse(pattern, _VOCAB.flags)
    names = {number: name for name, number in parsed.state.groupdict.items()}
    (_, (_, alternatives)), = list(parsed)
    for alternative in alternatives:
        (_, (number, _, _, body)), = list(alternative)
        first = _first_characters(body)
        if first is not None:
            pattern = pattern.replace(f"(?P<{names[number]}>", f"(?=[{first}])(?P<{names[number]}>", 1)
    return re.compile(_VOCAB_GUARD + "(?:" + pattern + ")", _VOCAB.flags)


_VOCAB_SCAN = _scan_pattern()
_GROUP_INDEX = {g: k for k, g in enumerate(_GROUPS)}
_DATE = _GROUP_INDEX["date"]


def _token_pattern(pattern: re.Pattern, limit: int = 12) -> tuple[re.Pattern, str]:
    """Where, inside one whitespace-free token, a match of ``pattern`` may start.

    Returns ``(starts, leads)``. ``starts`` finds (with look-aheads, so every start is reported)
    the offsets in a token at which the text of a match, up to its first whitespace, can begin:
    the pattern's alternatives are spelled out up to ``limit`` characters, a whitespace item
    becomes "the token ends here" and anything that cannot be followed (a lookaround, a
    repeated group, a class that may hold whitespace) cuts the alternative short, which only lets
    more offsets through. ``\\b`` is kept: a token's edges border whitespace, which is a non-word
    character like the string's edges. ``leads`` holds the whitespace characters a match may
    begin with (``\\n`` of ``(?:^|\\n)by``); such a match starts one character before a token
    offset that ``starts`` reports. A ValueError means some match may start anywhere.

    >>> starts, leads = _token_pattern(re.compile(r"\\bread\\ more|(?:^|\\n)by\\s|\\d{2}"))
    >>> [m.start() for m in starts.finditer("(read")], [m.start() for m in starts.finditer("by")], leads
    ([1], [0], '\\n')
    >>> [m.start() for m in starts.finditer("reader")], [m.start() for m in starts.finditer("x2024")]
    ([], [1, 2, 3])
    """
    from re import _constants as C
    from re import _parser

    words = {C.CATEGORY_DIGIT: r"\d", C.CATEGORY_WORD: r"\w"}

    def class_text(items) -> str | None:
        """Regex text of a character class, or None if it may match whitespace."""
        parts = []
        for item, value in items:
            if item is C.LITERAL and not chr(value).isspace():
                parts.append(re.escape(chr(value)))
            elif item is C.RANGE and not any(chr(c).isspace() for c in range(value[0], value[1] + 1)):
                parts.append(re.escape(chr(value[0])) + "-" + re.escape(chr(value[1])))
            elif item is C.CATEGORY and value in words:
                parts.append(words[value])
            else:
                return None
        return "[" + "".join(parts) + "]"

    def spaces(items) -> bool:
        return all((item is C.LITERAL and chr(value).isspace())
                   or (item is C.CATEGORY and value is C.CATEGORY_SPACE) for item, value in items)

    found: set[tuple[str, ...]] = set()
    leads: set[str] = set()

    def expand(sequence: list, prefix: tuple, length: int, led: bool = False) -> None:
        if length >= limit or not sequence:
            if not prefix:
                raise ValueError("a match may start anywhere")
            found.add(prefix)
            return
        (op, arg), rest = sequence[0], sequence[1:]
        if op is C.LITERAL or (op is C.IN and spaces(arg) and class_text(arg) is None):
            text = re.escape(chr(arg)) if op is C.LITERAL else None
            if text is not None and not chr(arg).isspace():
                expand(rest, prefix + (text,), length + 1, led)
            elif prefix:
                expand([], prefix + (r"\Z",), length, led)      # the token ends here
            elif op is C.LITERAL and not led:
                leads.add(chr(arg))                       # a match led by whitespace
                expand(rest, (), 0, True)
            else:
                raise ValueError("a match may start with any whitespace")
        elif op is C.IN:
            text = class_text(arg)
            expand([] if text is None else rest, prefix + ((text,) if text else ()), length + 1, led)
        elif op is C.BRANCH:
            for alternative in arg[1]:
                expand(list(alternative) + rest, prefix, length, led)
        elif op is C.SUBPATTERN:
            expand(list(arg[3]) + rest, prefix, length, led)
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
            low, high, body = arg
            body = list(body)
            single = None
            if len(body) == 1 and body[0][0] is C.IN:
                single = class_text(body[0][1])
            elif len(body) == 1 and body[0][0] is C.LITERAL and not chr(body[0][1]).isspace():
                single = re.escape(chr(body[0][1]))
            if single is not None:
                top = "" if high is C.MAXREPEAT else str(high)
                expand(rest, prefix + (f"{single}{{{low},{top}}}",), length + 1, led)
                return
            if low == 0:
                expand(rest, prefix, length, led)
            expand(body + rest if high == 1 else body, prefix, length, led)   # more repeats: cut short
        elif op is C.AT and arg in (C.AT_BOUNDARY, C.AT_NON_BOUNDARY):
            expand(rest, prefix + ((r"\b" if arg is C.AT_BOUNDARY else r"\B"),), length, led)
        elif op in (C.AT, C.ASSERT, C.ASSERT_NOT):
            expand(rest, prefix, length, led)                  # zero-width: skipping it lets more through
        else:
            expand([], prefix, length, led)

    expand(list(_parser.parse(pattern.pattern, pattern.flags)), (), 0)
    flags = pattern.flags & (re.IGNORECASE | re.ASCII)  # matched as the pattern matches
    return re.compile("(?=" + _trie(found) + ")", flags), "".join(sorted(leads))


def _trie(sequences) -> str:
    """One regex for a set of sequences of regex atoms, factored as a trie: an atom that several
    sequences begin with is tried once (most begin with ``\\b``, so a position inside a word
    fails at the first test)."""
    rest: dict[str, list] = {}
    for sequence in sequences:
        if sequence:
            rest.setdefault(sequence[0], []).append(sequence[1:])
    branches = [atom + _trie(tails) for atom, tails in sorted(rest.items())]
    if any(not sequence for sequence in sequences):
        branches.append("")  # a sequence ends here: in a look-ahead, that is a success
    return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"


_TOKEN_STARTS, _LEADS = _token_pattern(_VOCAB)


def _token_code(token: str) -> int:
    """What the stage-1 features need to know of a lower-cased token: bit 0 is
    ``token.strip(_STRIP_CHARS) in STOP_WORDS``; the rest is 0 when no vocabulary match can start
    inside the token, ``offset + 1`` for one possible start and ``_SEVERAL`` for more (see
    :func:`_token_offsets`). A pure function: a :class:`~dedupe.tokentable.TokenTable`
    remembers it per distinct token."""
    offsets = _token_offsets(token)
    return (token.strip(_STRIP_CHARS) in STOP_WORDS) | (
        (_SEVERAL if len(offsets) > 1 else offsets[0] + 1 if offsets else 0) << 1)


def _token_offsets(token: str) -> list[int]:
    """Every offset in ``token`` at which a vocabulary match may start."""
    return [m.start() for m in _TOKEN_STARTS.finditer(token)]


def _token_codes() -> TokenTable:
    return TokenTable(_token_code, np.int64, limit=1 << 20)


_SEVERAL = 1 << 40  # above any offset: tokens are far shorter


def _kinds_of(points: np.ndarray, kernels) -> np.ndarray:
    """The kind of each code point (those above the Basic Multilingual Plane read as 0xFFFF's)."""
    if kernels is not None:
        return kernels.lookup_capped(_kind_table(), points)
    return _kind_table()[np.minimum(points, 0xFFFF)]


def _vocab_hits(lower: str, offset: int) -> list[tuple[int, int]]:
    return [(offset + m.start(), _GROUP_INDEX[m.lastgroup]) for m in _VOCAB_SCAN.finditer(lower)]


def _vocab_candidates(codes: np.ndarray, token_at: Callable[[int], str], token_starts: np.ndarray,
                      code_points: np.ndarray) -> np.ndarray:
    """Sorted positions of a text (given as ``code_points``) at which a vocabulary match may
    start, from its tokens (``token_at(k)`` begins at ``token_starts[k]``) and their codes
    (:func:`_token_code`)."""
    some = np.flatnonzero(codes > 1)  # a few percent of the tokens: the rest only on these
    where = codes[some] >> 1
    one = where < _SEVERAL
    positions = token_starts[some[one]] + where[one] - 1
    several = some[~one].tolist()
    if several:
        extra = [int(token_starts[k]) + o for k in several for o in _token_offsets(token_at(k))]
        positions = np.sort(np.concatenate((positions, np.array(extra, np.int64))))
    if _LEADS and len(positions):
        before = positions[positions > 0] - 1
        led = before[np.isin(code_points[before], [ord(c) for c in _LEADS])]
        # np.union1d of two sorted arrays, the few led ones inserted (union1d sorts them all:
        # two thirds of this function's time)
        at = np.searchsorted(positions, led)
        new = led[(at == len(positions)) | (positions[np.minimum(at, len(positions) - 1)] != led)]
        positions = np.insert(positions, np.searchsorted(positions, new), new)
    return positions


@lru_cache(maxsize=1)
def _vocab_program():
    """_VOCAB for the compiled matcher (its look-ahead guards are only speed-ups for re)."""
    return compile_pattern(_VOCAB, _GROUP_INDEX)


def _vocab_hits_at(text: str, positions: list[int], start: int, end: int) -> list[tuple[int, int]]:
    """The matches ``_VOCAB_SCAN.finditer(text[start:end])`` finds (offsets in ``text``), given
    every position where one may start: tried in order, each from where the last match ended."""
    match = _VOCAB_SCAN.match
    hits, resume = [], start
    for p in positions:
        if p >= resume:
            m = match(text, p, end)
            if m is not None:
                hits.append((p, _GROUP_INDEX[m.lastgroup]))
                resume = m.end()
    return hits


# A character of a script written without spaces is a word (see tokentable.UNSPACED_RANGES),
# and so is the CJK punctuation between them: the classifier reads such a block with a space
# after each. Read as one long "word", a paragraph of Japanese looked like page furniture: all
# of the one Japanese page among the labelled ones was stripped, content and all.
_UNSPACED = re.compile(f"[{UNSPACED_CLASS}\u3001-\u3004\u3008-\u3020]")


def _blocks_holding_unspaced(points: np.ndarray, block_starts: np.ndarray) -> np.ndarray:
    """The blocks (of the joined code ``points``, starting at ``block_starts``) that hold a
    character of a script written without spaces."""
    if points.max() < UNSPACED_RANGES[0][0]:  # (one fast pass)
        return np.zeros(0, np.int64)
    at = np.flatnonzero(points >= UNSPACED_RANGES[0][0])  # a few in a chunk of news in English
    beyond = points[at]
    at = at[is_unspaced(beyond)]
    return np.unique(np.searchsorted(block_starts, at, side="right") - 1)


def _spaced(block: str) -> str:
    return _UNSPACED.sub(r"\g<0> ", block)


def _features_many(documents: Sequence[Sequence[str]], token_codes: TokenTable | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stage-1 features and word counts of all blocks of all documents, stacked in order, and
    ``sizes`` (blocks per document). Every feature is the one document-by-document computation
    would give: per-document quantities (longest blocks, repeats, vocabulary matching) are
    computed per segment of the stacked blocks. Blocks that hold characters of a script
    written without spaces are read with a space after each (see :func:`_spaced`): their
    documents are computed again so, a few in a chunk."""
    docs = [d if isinstance(d, list) else list(d) for d in documents]
    feats, words, sizes, held = _features_of(docs, token_codes)
    if len(held):
        first = np.concatenate(([0], np.cumsum(sizes)))
        affected = np.unique(np.searchsorted(first, held, side="right") - 1)
        held = set(held.tolist())
        again = [[_spaced(b) if first[d] + k in held else b for k, b in enumerate(docs[d])] for d in affected.tolist()]
        rows = np.concatenate([np.arange(first[d], first[d + 1]) for d in affected.tolist()])
        feats[rows], words[rows] = _features_of(again, token_codes, look_for_unspaced=False)[:2]
    return feats, words, sizes


def _features_of(docs: list[list[str]], token_codes: TokenTable | None, look_for_unspaced: bool = True
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_features_many` as the blocks are, and the blocks that hold a character of a
    script written without spaces (when ``look_for_unspaced``)."""
    held = np.zeros(0, np.int64)
    sizes = np.fromiter(map(len, docs), np.int64, len(docs))
    flat = list(map(str.strip, chain.from_iterable(docs)))
    n = len(flat)
    if n == 0:
        return np.zeros((0, len(BLOCK_FEATURES))), np.zeros(0), sizes, held
    seg = np.repeat(np.arange(len(docs)), sizes)  # document of each block
    doc_first = np.concatenate(([0], np.cumsum(sizes)[:-1]))  # first block of each document
    lengths = np.fromiter(map(len, flat), np.int64, n)
    starts = np.concatenate(([0], np.cumsum(lengths + 1)[:-1]))
    ends = starts + lengths
    joined = "\n".join(flat)
    kernels = native.load()
    if joined.isascii():  # the usual case: one byte a character, cheaper to encode and look up
        cps = np.frombuffer(joined.encode("ascii"), np.uint8)
        bmp = cps
    else:
        cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), np.uint32)
        if look_for_unspaced:
            held = _blocks_holding_unspaced(cps, starts)
        bmp = np.minimum(cps, 0xFFFF) if kernels is None else None  # then only the edges are capped
    kinds = _kinds_of(cps, kernels) if bmp is None else np.take(_kind_table(), bmp)  # take: no cast to intp
    space = kinds == _SPACE_KIND
    # kind_counts[block, kind, starts a word]; the \n after a block is counted with it, as a space
    if kernels is not None:
        kind_counts = kernels.kind_counts(kinds, lengths, _N_KINDS, _SPACE_KIND).astype(float)
    else:
        word_start = ~space & np.concatenate(([True], space[:-1]))
        block_of_char = np.repeat(np.arange(n), lengths + 1)[: len(kinds)]
        cell = (block_of_char * _N_KINDS + kinds) * 2 + word_start
        kind_counts = np.bincount(cell, minlength=n * _N_KINDS * 2).reshape(n, _N_KINDS, 2).astype(float)
    words = kind_counts[:, :, 1].sum(axis=1)
    safe_words = np.maximum(words, 1)
    chars = lengths.astype(float)
    safe_chars = np.maximum(chars, 1)
    per_kind = kind_counts[:, :, 0] + kind_counts[:, :, 1]  # = .sum(axis=2), exactly; numpy is slow over an axis of 2
    nonspace = per_kind.sum(axis=1) - per_kind[:, _SPACE_KIND]
    upper_start = kind_counts[:, _UPPER_KIND, 1]
    alpha = per_kind[:, _LOWER_KIND] + per_kind[:, _UPPER_KIND]
    digit = per_kind[:, _DIGIT_KIND]
    sep = per_kind[:, _SEP_KIND]
    punct = per_kind[:, _PUNCT_KIND] + sep

    # Last / second-to-last / first character of each block (blocks are stripped, so these are
    # the visible edges); an empty block reads as "no character".
    has = lengths > 0
    flags = _char_table()
    edges = cps if len(cps) else np.zeros(1, cps.dtype)  # every block empty: nothing is read

    def flags_at(at: np.ndarray) -> np.ndarray:
        points = edges[at]
        return flags[points if bmp is cps else np.minimum(points, 0xFFFF)]

    last = np.where(has, flags_at(np.maximum(ends - 1, 0)), 0)
    prev = np.where(lengths > 1, flags_at(np.maximum(ends - 2, 0)), 0)
    first = np.where(has, flags_at(np.minimum(starts, len(edges) - 1)), 0)
    ends_sentence = ((last & _ENDP) != 0) | (((last & _QUOTE) != 0) & ((prev & _ENDP) != 0))
    ends_colon = (last & _COLON) != 0
    starts_lower = ((first & _ALPHA) != 0) & ((first & _UPPER) == 0)

    # Tokens: the pieces of lower.split(). lower() maps each character to one or more and keeps
    # whitespace, so when it keeps the length the tokens lie where the words of the original
    # text lie (the usual case); otherwise they are found in the lower-cased text itself.
    lower_points = None
    if cps.dtype != np.uint8 and kernels is not None:  # lower() character by character, where it can be
        lower_points = kernels.map_points(cps, lowered_map())
    lower = None  # the lower-cased text as a string: only where some step reads it
    if lower_points is None:
        lower = joined.lower()
        if cps.dtype != np.uint8:
            lower_points = np.frombuffer(lower.encode("utf-32-le", "surrogatepass"), np.uint32)
    same_offsets = lower is None or len(lower) == len(joined)  # map_points maps one to one
    if same_offsets:
        token_starts, token_ends = token_runs(~space)
        token_counts = words.astype(np.int64)  # a token starts each word of the block
    else:
        token_starts, token_ends = token_runs(_kinds_of(lower_points, kernels) != _SPACE_KIND)
        lower_starts = np.cumsum([0] + [len(b.lower()) + 1 for b in flat[:-1]])
        token_counts = np.bincount(np.searchsorted(lower_starts, token_starts, side="right") - 1, minlength=n)
    first_token = np.concatenate(([0], np.cumsum(token_counts)))  # block b's tokens from first_token[b]
    # Tokens are keyed by their UTF-8 bytes: most words are short enough to be their own key.
    if lower_points is None:
        keys = token_keys(lower.encode("ascii"), token_starts, token_ends)
    elif kernels is not None:
        keys = kernels.token_keys_utf32(lower_points, token_starts, token_ends)
    else:
        utf8_sizes = 1 + (lower_points >= 0x80).view(np.uint8) + (lower_points >= 0x800) + (lower_points >= 0x10000)
        byte_at = np.zeros(len(lower_points) + 1, np.int64)
        np.cumsum(utf8_sizes, out=byte_at[1:])
        keys = token_keys(lower.encode("utf-8", "surrogatepass"), byte_at[token_starts], byte_at[token_ends])
    table = _token_codes() if token_codes is None else token_codes
    def token_at(k: int) -> str:  # a token the table has not seen yet
        if lower is None:  # map_points lowered character by character, as lower() does the token
            return joined[token_starts[k]:token_ends[k]].lower()
        return lower[token_starts[k]:token_ends[k]]

    codes = table.lookup(keys, token_at)
    stop = np.diff(np.concatenate(([0], np.cumsum(codes & 1)))[first_token]).astype(float)

    # Vocabulary: the matches of one regex pass per document (its ^ and \n anchors must not see
    # the other documents). When lower() kept the offsets, the pattern is only tried where the
    # tokens say a match may start (a few percent of the words), from where the last one ended.
    hits: list[tuple[int, int]] = []
    doc_last = doc_first + sizes - 1
    documents_with_blocks = np.flatnonzero(sizes)
    spans = np.stack((starts[doc_first[documents_with_blocks]], ends[doc_last[documents_with_blocks]]))
    found = None
    if same_offsets:
        candidates = _vocab_candidates(codes, token_at, token_starts, cps)
        if kernels is not None and len(candidates):
            # One compiled scan of the chunk; a candidate on the \n after a document's last
            # block is not the document's (finditer over the document never sees that \n).
            doc_ends = spans[1][np.minimum(np.searchsorted(spans[1], candidates), spans.shape[1] - 1)]
            inside = candidates < doc_ends
            units = lower_points if lower_points is not None else np.frombuffer(lower.encode("ascii"), np.uint8)
            found = kernels.vocab_scan(_vocab_program(), units, candidates[inside], doc_ends[inside])
        if found is None:
            bounds = np.searchsorted(candidates, spans).T.tolist()
            candidates = candidates.tolist()
            if lower is None:
                lower = lower_points.tobytes().decode("utf-32-le", "surrogatepass")
    for k, (ds, de) in enumerate(spans.T.tolist() if found is None else ()):
        if same_offsets:
            hits += _vocab_hits_at(lower, candidates[bounds[k][0]:bounds[k][1]], ds, de)
            continue
        doc_lower = joined[ds:de].lower()
        if len(doc_lower) == de - ds:
            hits += _vocab_hits(doc_lower, ds)
        else:  # lower() changed offsets (e.g. 'İ'): match block by block instead
            d = documents_with_blocks[k]
            for b in range(doc_first[d], doc_last[d] + 1):
                hits += _vocab_hits(flat[b].lower(), int(starts[b]))
    n_groups = len(_GROUPS)
    if found is None and hits:
        found = np.array(hits, dtype=np.int64).T
    if found is not None and len(found[0]):
        pos, grp = found
        owner_hit = np.searchsorted(starts, pos, side="right") - 1
        vocab = np.bincount(grp * n + owner_hit, minlength=n_groups * n).reshape(n_groups, n)
        # A promo/social word opening the block ("Read More: ...", "Share this") is stronger
        # evidence than one inside a sentence.
        lead = (pos - starts[owner_hit] <= 1) & (grp != _DATE)
        at_start = np.bincount(owner_hit[lead], minlength=n).astype(float)
        vocab = vocab.astype(float)
    else:
        vocab, at_start = np.zeros((n_groups, n)), np.zeros(n)

    # Repeats within the document: blocks of the same document with the same lower-cased
    # tokens (" ".join(block.lower().split()) equal), compared by a hash of their keys.
    text_hash = sequence_hashes(keys, first_token)
    # ... and the longest block and the mean of the three longest, per document (1 at least).
    if kernels is not None:
        repeats, max_words, top3 = kernels.document_blocks(sizes, words, text_hash)
    else:
        repeats, max_words, top3 = _document_blocks(sizes, words, text_hash, seg, doc_first)

    columns = [
        np.log1p(chars), np.log1p(words), nonspace / safe_words, stop / safe_words,
        upper_start / safe_words, alpha / safe_chars, digit / safe_chars, punct / safe_chars,
        np.log1p(sep), ends_sentence, ends_colon, starts_lower, alpha + digit == 0,
        *np.log1p(vocab), np.minimum(at_start, 1), np.log1p(repeats),
        words / max_words[seg], np.minimum(words / top3[seg], 3.0),
    ]
    return np.column_stack(columns).astype(float), words, sizes, held


def _cross_links(documents: Sequence[Sequence[str]], feats: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The rows (of the stacked blocks of ``documents``, with their stage-1 ``feats``) of blocks
    that open with a link to another story (see ``_CROSS_LINK``). Only blocks with a vocabulary
    word at their start (the vocabulary holds every marker) are read again: a few in a chunk."""
    rows = np.flatnonzero((feats[:, _AT_START] > 0) & (feats[:, _LOG_WORDS] <= np.log1p(CROSS_LINK_MAX_WORDS)))
    if not rows.size:
        return rows
    first = np.cumsum(sizes) - sizes
    owner = np.searchsorted(first, rows, side="right") - 1  # an empty document shares its first
    texts = [documents[d][k] for d, k in zip(owner.tolist(), (rows - first[owner]).tolist())]
    return rows[np.array([_CROSS_LINK.match(t.strip()) is not None for t in texts], bool)]


def _document_blocks(sizes: np.ndarray, words: np.ndarray, text_hash: np.ndarray, seg: np.ndarray,
                     doc_first: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per block, how many other blocks of its document (``seg``) share its ``text_hash``; per
    document, its longest block's words and the mean of its three longest (each at least 1)."""
    n = len(words)
    by_text = np.lexsort((text_hash, seg))
    new_text = np.r_[True, (np.diff(seg[by_text]) != 0) | (np.diff(text_hash[by_text]) != 0)]
    group = np.cumsum(new_text) - 1
    repeats = np.empty(n)
    repeats[by_text] = np.bincount(group)[group] - 1
    nz = sizes > 0
    max_words = np.ones(len(sizes))
    max_words[nz] = np.maximum(np.maximum.reduceat(words, doc_first[nz]), 1)
    order = np.lexsort((-words, seg))
    rank = np.arange(n) - doc_first[seg]  # seg[order] == seg: lexsort keeps documents in order
    top = rank < 3
    top_sum = np.bincount(seg[top], weights=words[order][top], minlength=len(sizes))
    top_cnt = np.bincount(seg[top], minlength=len(sizes))
    return repeats, max_words, np.maximum(top_sum / np.maximum(top_cnt, 1), 1)


def _segment_sum(x: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """``x[segment].sum()`` of each consecutive segment (``sizes`` > 0), bit for bit: numpy sums
    pairwise (eight running sums over blocks of eight, combined as a tree, then the remainder one
    by one; halves above 128 elements), which is replayed here for all segments at once.
    """
    sizes = np.asarray(sizes, np.int64)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    out = np.zeros(len(sizes))
    m = sizes
    long = np.flatnonzero(m > 128)  # numpy splits these in halves: rare, sum them one by one
    for d in long.tolist():
        out[d] = x[starts[d]:starts[d] + sizes[d]].sum()
    rows = np.flatnonzero((m > 0) & (m <= 128))
    if len(rows) == 0:
        return out
    m_r, first = m[rows], starts[rows]
    bulk = np.where(m_r >= 8, m_r - m_r % 8, 0)
    width = int(m_r.max())
    col = np.arange(width)
    take = col < m_r[:, None]
    grid = np.zeros((len(rows), width))
    grid[take] = x[(first[:, None] + col)[take]]
    in_bulk = col < bulk[:, None]
    blocks = np.where(in_bulk, grid, 0.0)[:, : width - width % 8 or 0]
    if blocks.shape[1]:
        blocks = blocks.reshape(len(rows), -1, 8)
        r = blocks[:, 0].copy()
        for b in range(1, blocks.shape[1]):
            r += blocks[:, b]
        res = ((r[:, 0] + r[:, 1]) + (r[:, 2] + r[:, 3])) + ((r[:, 4] + r[:, 5]) + (r[:, 6] + r[:, 7]))
    else:
        res = np.zeros(len(rows))
    # the remainder (all the elements when there are fewer than 8), one by one
    row = np.arange(len(rows))
    for t in range(8):
        c = bulk + t
        sel = c < m_r
        if not sel.any():
            break
        res = np.where(sel, res + grid[row, np.minimum(c, width - 1)], res)
    out[rows] = res
    return out


def _segment_cumsum(x: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """np.cumsum of each consecutive segment of ``x`` (``sizes`` > 0), bit for bit: the segments
    become the rows of 2-D arrays (segments of similar size together, so padding stays < 2x) and
    the rows are summed one element after another, as np.cumsum does for one segment."""
    out = np.empty(len(x))
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    size_class = np.ceil(np.log2(sizes)).astype(np.int64)
    for c in np.unique(size_class):
        rows = np.flatnonzero(size_class == c)
        row_sizes = sizes[rows]
        col = np.arange(row_sizes.max())
        mask = col < row_sizes[:, None]
        idx = (starts[rows][:, None] + col)[mask]
        grid = np.zeros(mask.shape)
        grid[mask] = x[idx]
        out[idx] = np.cumsum(grid, axis=1)[mask]
    return out


def _padded(values: np.ndarray, sizes: np.ndarray, radius: int, pad: np.ndarray) -> np.ndarray:
    """Each segment of ``values`` with ``radius`` copies of its ``pad`` value on either side."""
    seg = np.repeat(np.arange(len(sizes)), sizes)
    out = np.repeat(pad, sizes + 2 * radius)
    out[np.arange(len(values)) + radius * (2 * seg + 1)] = values
    return out


def context_features(scores: np.ndarray, words: np.ndarray) -> np.ndarray:
    """Stage-2 context features from one document's stage-1 scores s and word counts w.

    Beyond the document's edges the context reads as the document's word-weighted mean score
    (no evidence either way: raw pages start with menus, extracted text with the article).
    ``s_self`` is block i's own stage-1 score. ``s_prev_long / s_next_long`` are the scores of the nearest blocks of
    LONG_BLOCK_WORDS+ words on each side, skipping short ones, so a run of headings and captions
    takes the class of the prose around it. ``content_before/after`` are the shares of the
    document's likely-content words (sum of w_j (1 - s_j)) before / after block i; their minimum
    (``content_sandwich``) is high only inside the article.
    """
    return _context_many(np.asarray(scores), np.asarray(words), np.array([len(scores)]))


_WINDOWS = ((2, False), (4, False), (8, False), (3, True), (8, True))  # (radius, log-word weights)


def _context_many(scores: np.ndarray, words: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """:func:`context_features` of consecutive documents of ``sizes`` blocks, stacked."""
    sizes = np.asarray(sizes, np.int64)
    sizes = sizes[sizes > 0]
    n = len(scores)
    if n == 0:
        return np.zeros((0, len(CONTEXT_FEATURES)))
    s = scores.astype(float)
    w = words.astype(float)
    n_docs = len(sizes)
    first = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    last = first + sizes - 1
    w_prev, w_next = np.empty(n), np.empty(n)
    w_prev[1:], w_next[:-1] = w[:-1], w[1:]
    w_prev[first], w_next[last] = 0.0, 0.0
    kernels = native.load()
    if kernels is not None:  # every feature in one pass over the blocks, the same numbers
        out = kernels.context_features(s, w, np.log1p(w), sizes, LONG_BLOCK_WORDS)
        out[:, 15], out[:, 16] = np.log1p(w_prev), np.log1p(w_next)
        return out
    seg = np.repeat(np.arange(n_docs), sizes)
    # Per-document sums with the same summation as ndarray.sum() on the document alone.
    w_sum = _segment_sum(w, sizes)
    sw_sum = _segment_sum(s * w, sizes)
    s_mean = _segment_sum(s, sizes) / sizes
    s_wmean = sw_sum / np.maximum(w_sum, 1e-9)
    # Beyond the edges: the document's average score, i.e. no evidence either way.
    edge = np.where(w_sum > 0, s_wmean, s_mean)
    edge_b = edge[seg]
    s_prev, s_next = np.empty(n), np.empty(n)
    s_prev[1:], s_next[:-1] = s[:-1], s[1:]
    s_prev[first], s_next[last] = edge, edge
    mass = w * (1 - s)
    total = np.maximum(_segment_sum(mass, sizes), 1e-9)[seg]

    # Nearest long block strictly before / after each block, within its document.
    is_long = w >= LONG_BLOCK_WORDS
    idx = np.arange(n)
    latest = np.maximum.accumulate(np.where(is_long, idx, -1))
    before_idx = np.concatenate(([-1], latest[:-1]))
    prev_long = np.where(before_idx >= first[seg], s[np.maximum(before_idx, 0)], edge_b)
    soonest = np.minimum.accumulate(np.where(is_long, idx, n)[::-1])[::-1]
    after_idx = np.concatenate((soonest[1:], [n]))
    next_long = np.where(after_idx <= last[seg], s[np.minimum(after_idx, n - 1)], edge_b)

    # Every running sum (content mass; the padded score / weight sequences of the window means)
    # in one segmented cumsum.
    lw = np.log1p(w)
    ones = np.ones(n)
    parts, part_sizes = [mass], [sizes]
    for radius, weighted in _WINDOWS:
        weights = lw if weighted else ones
        parts += [_padded(s * weights, sizes, radius, edge),
                  _padded(weights, sizes, radius, np.ones(n_docs))]
        part_sizes += [sizes + 2 * radius] * 2
    cums = np.split(_segment_cumsum(np.concatenate(parts), np.concatenate(part_sizes)),
                    np.cumsum([len(p) for p in parts])[:-1])
    before = (cums[0] - mass) / total
    after = np.maximum(1 - before - mass / total, 0.0)
    means = []
    for k, (radius, weighted) in enumerate(_WINDOWS):
        weights = lw if weighted else ones
        cv, cw = cums[1 + 2 * k], cums[2 + 2 * k]
        # window of block i: padded positions p-radius .. p+radius, p = i + radius (2 seg + 1)
        p = idx + radius * (2 * seg + 1)
        lo = p - radius - 1  # cumsum index just before the window (-1 at a segment's start)
        lo_val = np.where(idx - first[seg] > 0, cv[np.maximum(lo, 0)], 0.0)
        lo_w = np.where(idx - first[seg] > 0, cw[np.maximum(lo, 0)], 0.0)
        num = cv[p + radius] - lo_val - s * weights
        den = cw[p + radius] - lo_w - weights
        means.append(num / np.maximum(den, 1e-9))
    # Largest log word count within 3 blocks either side (0 beyond the edges).
    lw_pad = _padded(lw, sizes, 3, np.zeros(n_docs))
    r3 = np.lib.stride_tricks.sliding_window_view(lw_pad, 7)[idx + 6 * seg].max(axis=1)
    columns = [
        s, s_prev, s_next, np.maximum(s_prev, s_next),
        prev_long, next_long, np.maximum(prev_long, next_long),
        *means,
        before, after, np.minimum(before, after),
        np.log1p(w_prev), np.log1p(w_next), r3,
        s_mean[seg], s_wmean[seg],
    ]
    return np.column_stack(columns)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # = 1 / (1 + e^-z), without overflow warnings


class _Logistic:
    """A standardised logistic regression as plain arrays: p = sigmoid(((x - m) / s) . w + b)."""

    def __init__(self, mean, scale, coef, intercept: float):
        self.mean = np.asarray(mean, float)
        self.scale = np.asarray(scale, float)
        self.coef = np.asarray(coef, float)
        self.intercept = float(intercept)

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, weight: np.ndarray, C: float, max_iter: int):
        from sklearn.linear_model import LogisticRegression  # training only

        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        scale[scale < 1e-12] = 1.0  # constant feature: leave it unscaled (its weight ends at 0)
        model = LogisticRegression(C=C, max_iter=max_iter)
        model.fit((X - mean) / scale, y, sample_weight=weight)
        return cls(mean, scale, model.coef_[0], model.intercept_[0])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return _sigmoid(((X - self.mean) / self.scale) @ self.coef + self.intercept)

    def to_json(self) -> dict:
        return {"kind": "standardised-logistic", "mean": self.mean.tolist(),
                "scale": self.scale.tolist(), "coef": self.coef.tolist(),
                "intercept": self.intercept}

    @classmethod
    def from_json(cls, obj: dict, n_features: int, where: str) -> "_Logistic":
        try:
            if obj["kind"] != "standardised-logistic":
                raise ValueError(f"unknown stage kind {obj['kind']!r}")
            model = cls(obj["mean"], obj["scale"], obj["coef"], obj["intercept"])
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise InputError(f"not a boilerplate model ({exc})", where) from None
        shapes = {model.mean.shape, model.scale.shape, model.coef.shape}
        if shapes != {(n_features,)}:
            raise InputError(f"model arrays do not match its {n_features} feature names", where)
        numbers = np.concatenate((model.mean, model.scale, model.coef, [model.intercept]))
        if not np.isfinite(numbers).all() or not model.scale.all():  # every score would be NaN
            raise InputError("the model holds numbers that are not finite, or a scale of 0: retrain it", where)
        return model


class BoilerplateClassifier:
    """Two-stage logistic classifier of blocks: 1 = boilerplate, 0 = content.

    Hyper-parameters (validated in :meth:`_validate`):

    - ``C``: inverse L2 strength of both logistic stages (1.0 measured best by host-grouped CV
      on aeb.dev; 0.1 and 10 were within 0.005 F1).
    - ``weighting``: training weight of a block: ``"sqrt_words"`` (sqrt of its word count; a
      compromise between the word-weighted metric and not ignoring short promos), ``"words"``,
      or ``"none"``.
    - ``inner_folds``: folds for the out-of-fold stage-1 scores that stage 2 is trained on.
    - ``threshold``: strip a block when P(boilerplate) >= threshold.

    >>> docs = [["Home", "News", "The council voted on Tuesday to approve the budget for the "
    ...          "new school, which the mayor said was long overdue.", "Share this"]] * 4
    >>> labels = [[1, 1, 0, 1]] * 4
    >>> clf = BoilerplateClassifier(inner_folds=2).fit(docs, labels)
    >>> clf.predict_proba(docs[0]).round(1).tolist()[2] < 0.5
    True
    """

    def __init__(self, C: float = 1.0, weighting: str = "sqrt_words", inner_folds: int = 5,
                 threshold: float = 0.5, max_iter: int = 5000):
        self.C = C
        self.weighting = weighting
        self.inner_folds = inner_folds
        self.threshold = threshold
        self.max_iter = max_iter
        self._validate()
        self.stage1: _Logistic | None = None
        self.stage2: _Logistic | None = None
        self.metadata: dict = {}
        self._token_codes = _token_codes()  # memo of a pure function: speed only

    def _validate(self) -> None:
        if not (isinstance(self.C, (int, float)) and self.C > 0):
            raise ConfigError(f"C must be a positive number, not {self.C!r}")
        if self.weighting not in ("sqrt_words", "words", "none"):
            raise ConfigError(f"weighting must be sqrt_words, words or none, not "
                              f"{self.weighting!r}")
        if not (isinstance(self.inner_folds, int) and self.inner_folds >= 2):
            raise ConfigError(f"inner_folds must be an integer >= 2, not {self.inner_folds!r}")
        if not (isinstance(self.threshold, (int, float)) and 0 < self.threshold < 1):
            raise ConfigError(f"threshold must lie strictly between 0 and 1, not "
                              f"{self.threshold!r}")
        if not (isinstance(self.max_iter, int) and self.max_iter > 0):
            raise ConfigError(f"max_iter must be a positive integer, not {self.max_iter!r}")

    def hyper_parameters(self) -> dict:
        return {"C": self.C, "weighting": self.weighting, "inner_folds": self.inner_folds,
                "threshold": self.threshold, "max_iter": self.max_iter}

    def _weights(self, words: np.ndarray) -> np.ndarray:
        w = np.maximum(words, 1.0)
        return {"sqrt_words": np.sqrt(w), "words": w, "none": np.ones_like(w)}[self.weighting]

    # -- training ---------------------------------------------------------------------------
    def fit(self, documents: list[list[str]], labels: list[list[int]],
            groups: Sequence | None = None) -> "BoilerplateClassifier":
        """Train both stages. ``labels[d][i]`` is 1 when block i of document d is boilerplate,
        0 when it is content, -1 when it should not be trained on (it still gives context).

        ``groups`` (one per document, e.g. the site host) keeps a site's pages in the same fold
        when the out-of-fold stage-1 scores for stage 2 are computed; by default each document
        is its own group.
        """
        from sklearn.model_selection import GroupKFold  # training only

        if len(documents) != len(labels):
            raise InputError(f"{len(documents)} documents but {len(labels)} label lists")
        feats, words, ys = [], [], []
        for d, (doc, lab) in enumerate(zip(documents, labels)):
            if len(doc) != len(lab):
                raise InputError(f"document {d} has {len(doc)} blocks but {len(lab)} labels")
            f, w = _block_features(doc, self._token_codes)
            feats.append(f)
            words.append(w)
            ys.append(np.asarray(lab, dtype=int).reshape(-1))
        if not feats or not sum(len(f) for f in feats):
            raise InputError("no blocks to train on")
        y = np.concatenate(ys)
        if not np.isin(y, (-1, 0, 1)).all() or not (y == 0).any() or not (y == 1).any():
            raise InputError("labels must be 0 (content), 1 (boilerplate) or -1 (ignore), with "
                             "both 0 and 1 present")
        X1 = np.vstack(feats)
        weight = self._weights(np.concatenate(words)) * (y >= 0)
        y = np.maximum(y, 0)
        doc_of = np.concatenate([np.full(len(f), d) for d, f in enumerate(feats)])
        self.stage1 = _Logistic.fit(X1, y, weight, self.C, self.max_iter)

        # Out-of-fold stage-1 scores: stage 2 must learn from scores as noisy as they are on
        # unseen sites, not from the optimistic in-sample ones.
        groups = np.asarray(groups if groups is not None else np.arange(len(feats)))
        n_groups = len(np.unique(groups))
        s = np.empty(len(y))
        if n_groups >= 2:
            splitter = GroupKFold(min(self.inner_folds, n_groups))
            for tr_docs, te_docs in splitter.split(np.arange(len(feats)), groups=groups):
                tr, te = np.isin(doc_of, tr_docs), np.isin(doc_of, te_docs)
                if len(np.unique(y[tr][weight[tr] > 0])) < 2:
                    s[te] = self.stage1.predict(X1[te])
                else:
                    s[te] = _Logistic.fit(X1[tr], y[tr], weight[tr], self.C,
                                          self.max_iter).predict(X1[te])
        else:  # a single group: in-sample scores are all there is
            s = self.stage1.predict(X1)
        X2 = np.vstack([np.hstack([f, context_features(s[doc_of == d], w)])
                        for d, (f, w) in enumerate(zip(feats, words))])
        self.stage2 = _Logistic.fit(X2, y, weight, self.C, self.max_iter)
        self.metadata = {"n_documents": len(feats), "n_blocks": int(len(y)),
                         "n_boilerplate": int(y[weight > 0].sum()),
                         "n_ignored": int((weight == 0).sum()), "n_groups": int(n_groups)}
        return self

    # -- scoring ----------------------------------------------------------------------------
    def predict_proba(self, blocks: list[str]) -> np.ndarray:
        """P(boilerplate) of each block of ONE document (its blocks in order)."""
        return self.predict_proba_many([blocks])[0]

    def predict_proba_many(self, documents: list[list[str]], with_words: bool = False):
        """P(boilerplate) of each block of each document: the same numbers as
        :meth:`predict_proba` on each document, computed in one vectorised pass over all their
        blocks (give it chunks of ~64-256 documents). ``with_words``: also the words of each
        block, ``len(text.split())``, stacked: ``(probabilities, words)``."""
        if self.stage1 is None or self.stage2 is None:
            raise ConfigError("the classifier is not trained: call fit() or load() first")
        feats, words, sizes = _features_many(documents, self._token_codes)
        if len(feats) == 0:
            p = [np.zeros(0) for _ in range(len(sizes))]
            return (p, np.zeros(0, np.int64)) if with_words else p
        s = self.stage1.predict(feats)
        p = self.stage2.predict(np.hstack([feats, _context_many(s, words, sizes)]))
        # A block without one letter or digit ("•", "|", "***") has no text to keep, whatever
        # its neighbours say; the context pass would otherwise keep stray bullets in articles.
        p[feats[:, _NO_LETTERS] > 0] = 1.0
        links = _cross_links(documents, feats, sizes)
        p[links] = np.maximum(p[links], CROSS_LINK_P)
        p = np.split(p, np.cumsum(sizes)[:-1])
        return (p, words.astype(np.int64)) if with_words else p

    def strip_mask(self, blocks: list[str]) -> np.ndarray:
        """True for the blocks to strip: P(boilerplate) >= threshold."""
        return self.predict_proba(blocks) >= self.threshold

    # -- persistence ------------------------------------------------------------------------
    def to_json(self) -> dict:
        if self.stage1 is None or self.stage2 is None:
            raise ConfigError("the classifier is not trained: nothing to save")
        return {
            "format_version": FORMAT_VERSION,
            "name": MODEL_NAME,
            "model": "two-stage standardised logistic regression (stage 2 adds context "
                     "features of out-of-fold stage-1 scores)",
            "label": "P(boilerplate)",
            "hyper_parameters": self.hyper_parameters(),
            "threshold": self.threshold,
            "stage1_features": list(BLOCK_FEATURES),
            "stage2_features": list(BLOCK_FEATURES) + list(CONTEXT_FEATURES),
            "stage1": self.stage1.to_json(),
            "stage2": self.stage2.to_json(),
            "training": self.metadata,
        }

    def save(self, path) -> None:
        """Write the model as JSON (plain numbers only; see :meth:`load`); ``-``: to stdout."""
        with output_file(str(path)) as f:
            f.write((json.dumps(self.to_json(), indent=1) + "\n").encode("utf-8"))

    @classmethod
    def load(cls, path=None) -> "BoilerplateClassifier":
        """Load a saved model; ``None`` loads the shipped ``models/boilerplate-v1.json``."""
        if path is None:
            where = f"dedupe/models/{MODEL_NAME}.json"
            try:
                text = (resources.files("dedupe") / "models" / f"{MODEL_NAME}.json").read_text(
                    encoding="utf-8")
            except OSError:
                raise InputError("the shipped boilerplate model is missing; reinstall "
                                 "news-dedupe or pass a model path", where) from None
        else:
            where = str(path)
            try:
                text = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise InputError(f"cannot read the model file ({exc})", where) from None
        try:
            obj = parse_json(text)
        except UnreadableJSON as exc:
            raise InputError(f"model file: {exc}", where) from None
        if not isinstance(obj, dict) or obj.get("format_version") != FORMAT_VERSION:
            raise InputError(f"unsupported model format_version "
                             f"{obj.get('format_version') if isinstance(obj, dict) else None!r}"
                             f" (this version reads {FORMAT_VERSION})", where)
        if (obj.get("stage1_features") != list(BLOCK_FEATURES)
                or obj.get("stage2_features") != list(BLOCK_FEATURES) + list(CONTEXT_FEATURES)):
            raise InputError("the model's feature names differ from this version's features; "
                             "retrain it with `dedupe train`", where)
        hp = obj.get("hyper_parameters", {})
        if not isinstance(hp, dict):
            raise InputError(f"hyper_parameters must be an object, not {type(hp).__name__}", where)
        hp = dict(hp)
        hp["threshold"] = obj.get("threshold", hp.get("threshold", 0.5))
        try:
            clf = cls(**hp)
        except (TypeError, ConfigError) as exc:
            raise InputError(f"bad hyper_parameters in the model ({exc})", where) from None
        clf.stage1 = _Logistic.from_json(obj.get("stage1", {}), len(BLOCK_FEATURES), where)
        clf.stage2 = _Logistic.from_json(obj.get("stage2", {}),
                                         len(BLOCK_FEATURES) + len(CONTEXT_FEATURES), where)
        clf.metadata = obj.get("training", {})
        return clf


# -- training entry point (`dedupe train`) ----------------------------------------------------

def _binary_labels(page, ignore_caveat: bool = False) -> list[int]:
    """1 = boilerplate, 0 = content, -1 = not trained on.

    A "duplicate" block is an exact repeat of content: as TEXT it is content, and the dedup
    stage, not this classifier, is what strips it. With ``ignore_caveat`` the headline / byline
    / date / caption blocks that aeb labels boilerplate only because its gold body leaves them
    out (:func:`dedupe.evaluation.caveat_mask`) are not trained on.
    """
    from .evaluation import caveat_mask

    labels = [1 if lab == "boilerplate" else 0 for lab in page.labels]
    if ignore_caveat:
        labels = [-1 if c else lab for lab, c in zip(labels, caveat_mask(page))]
    return labels


def _scores(pages, keeps, dup_strip: bool) -> dict:
    from .evaluation import caveat_mask, content_scores, duplicate_strip_mask

    if dup_strip:
        keeps = [k & ~duplicate_strip_mask(p.texts) for k, p in zip(keeps, pages)]
    caveats = [caveat_mask(p) for p in pages]
    out = {}
    for name, ignore in (("all_labels", None), ("caveat", caveats)):
        s = content_scores(pages, keeps, ignore)
        out[name] = {k: round(s[k], 4) for k in ("word_precision", "word_recall", "word_f1",
                                                  "strip_precision", "strip_recall")}
    return out


def fit_on_sites(pages, train: np.ndarray, classifier_params: dict | None = None,
                 ignore_caveat: bool = False) -> "BoilerplateClassifier":
    """A classifier fitted on ``pages[train]``, the sites of one fold of a held-out run; the
    sites left out are named when those kept hold no content or no boilerplate to learn from
    (the classifier's own check spoke of labels 0 and 1, which the user never wrote)."""
    labels = [_binary_labels(pages[i], ignore_caveat) for i in train]
    found = set(np.concatenate(labels).tolist()) if labels else set()
    missing = [name for value, name in ((0, "content"), (1, "boilerplate")) if value not in found]
    if missing:
        left_out = sorted({p.host for p in pages} - {pages[i].host for i in train})
        named = ", ".join(left_out[:3]) + (f" and {len(left_out) - 3} more" if len(left_out) > 3 else "")
        raise InputError(f"the fold that holds out {named or 'no site'} leaves no {' or '.join(missing)} blocks on "
                         f"the other sites to learn from: use fewer folds, or label {missing[0]} on more sites")
    hosts = np.array([pages[i].host for i in train])
    return BoilerplateClassifier(**dict(classifier_params or {})).fit([pages[i].texts for i in train], labels,
                                                                       groups=hosts)


def cross_val_proba(pages, classifier_params: dict | None = None, folds: int = 5,
                    ignore_caveat: bool = False) -> list[np.ndarray]:
    """P(boilerplate) of every block of every page, each page scored by a model trained on the
    other folds' sites only (GroupKFold over hosts; needs two or more hosts)."""
    from sklearn.model_selection import GroupKFold

    hosts = np.array([p.host for p in pages])
    folds = min(folds, len(np.unique(hosts)))
    probs: list[np.ndarray] = [np.zeros(0)] * len(pages)
    for tr, te in GroupKFold(folds).split(np.arange(len(pages)), groups=hosts):
        clf = fit_on_sites(pages, tr, classifier_params, ignore_caveat)
        for i in te:
            probs[i] = clf.predict_proba(pages[i].texts)
    return probs


def cross_validate(pages, classifier_params: dict | None = None, folds: int = 5,
                   ignore_caveat: bool = False) -> dict:
    """Host-grouped cross-validated figures of the classifier and the baselines on ``pages``.

    Each fold trains on the other sites only (GroupKFold over hosts), so every page is scored by
    a model that never saw its site. Reported with and without exact-duplicate stripping
    (5+ words, mimicking the dedup stage) and with all labels / without caveat blocks
    (:func:`dedupe.evaluation.caveat_mask`).
    """
    params = dict(classifier_params or {})
    n_hosts = len({p.host for p in pages})
    if n_hosts < 2:
        return {}
    probs = cross_val_proba(pages, params, folds, ignore_caveat)
    threshold = BoilerplateClassifier(**params).threshold
    keeps = {
        f"classifier@{threshold}": [p < threshold for p in probs],
        "keep_all": [np.ones(len(p.texts), bool) for p in pages],
        "keep_10_words": [np.array([len(t.split()) >= 10 for t in p.texts], bool)
                          for p in pages],
    }
    try:
        from .evaluation import justext_keep_mask

        keeps["justext_english"] = [justext_keep_mask(p.texts) for p in pages]
    except ImportError:  # jusText is a test extra, not a run-time dependency
        pass
    return {
        "folds": min(folds, n_hosts), "hosts": int(n_hosts), "pages": len(pages),
        "threshold": threshold,
        "figures": {name: {"alone": _scores(pages, k, False), "with_dedup": _scores(pages, k, True)}
                    for name, k in keeps.items()},
    }


def train_model(labelled_paths: list[str], out_path: str, cv_folds: int = 5,
                ignore_caveat: bool = False, **classifier_params) -> dict:
    """Train on labelled JSONL files, save the model to ``out_path``, return the CV figures.

    Cross-validation (by site host, ``cv_folds`` folds; skipped with fewer than two hosts)
    comes first, then the model is refitted on every page and saved with the figures in its
    training metadata.
    """
    from .evaluation import load_labelled

    if not labelled_paths:
        raise InputError("no labelled files given to train on")
    if isinstance(cv_folds, bool) or not isinstance(cv_folds, int) or cv_folds < 0 or cv_folds == 1:
        raise ConfigError(f"cv_folds must be 0 (no cross-validation) or a whole number >= 2, not {cv_folds!r}")
    for path in labelled_paths:  # before the minutes of training, not after
        check_outputs(str(path), {"the model": str(out_path)})
    pages = [page for path in labelled_paths for page in load_labelled(path)]
    labels = {y for page in pages for y in _binary_labels(page, ignore_caveat)}
    if not {0, 1} <= labels:  # in the files' words, not the classifier's codes
        missing = "content (or duplicate)" if 0 not in labels else "boilerplate"
        raise InputError(f"no paragraph is labelled {missing}: the classifier learns from both kinds",
                         ", ".join(map(str, labelled_paths)))
    cv = cross_validate(pages, classifier_params, cv_folds, ignore_caveat) if cv_folds >= 2 else {}
    clf = BoilerplateClassifier(**classifier_params).fit(
        [p.texts for p in pages], [_binary_labels(p, ignore_caveat) for p in pages],
        groups=[p.host for p in pages])
    try:
        import sklearn

        sk_version = sklearn.__version__
    except ImportError:  # pragma: no cover - fit() already needed it
        sk_version = None
    clf.metadata.update({
        "data": [Path(p).name for p in labelled_paths],
        "trained_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sklearn_version": sk_version,
        "label_mapping": "boilerplate -> 1; content, duplicate -> 0",
        "cross_validation": cv,
    })
    clf.save(out_path)
    return cv
