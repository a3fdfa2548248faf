"""A built-in language-model corpus that needs no download, and a reader for PTB-style files.

`generate_corpus` writes English-like sentences from a small probabilistic grammar: clauses
with a subject noun phrase and a verb phrase, determiners, adjectives, prepositional phrases,
relative clauses ("the banks that lend ..."), reported speech ("he said that ..."), modal
verbs and conjoined clauses. Subjects and verbs agree in number ("the bank lends", "the banks
lend"), and determiners agree with their nouns. Each sentence has one of a few topics that
reorders which nouns and verbs are likely, so word choice depends on the rest of the sentence.
Open-class words are pronounceable made-up stems with English inflections (-s, -ed, -ly), a
few thousand word forms in all, drawn with Zipfian frequencies.

Sentence lengths follow Penn Treebank's training split (Mikolov's text, one sentence a line):
each sentence's length is drawn from PTB's quantiles (`PTB_LENGTH_QUANTILES`, mean 21.3,
std 10.2, 1 to 80 tokens), and the grammar then builds a sentence of exactly that length.
Everything is deterministic given the seed; 100k sentences take about two seconds.
"""
import random
from pathlib import Path

import numpy as np

# (percentile, length) knots of PTB train's sentence lengths (tokens, no end-of-sentence);
# lengths are drawn by linear interpolation of the inverse CDF, rounded.
PTB_LENGTH_QUANTILES = (
    (0, 1), (1, 3), (2.5, 4), (5, 6), (7.5, 8), (10, 9), (15, 11), (20, 13), (25, 14), (30, 15),
    (35, 17), (40, 18), (45, 19), (50, 20), (55, 22), (60, 23), (65, 24), (70, 26), (75, 27),
    (80, 29), (85, 32), (90, 35), (92.5, 36), (95, 39), (97.5, 44), (99, 49.23), (99.5, 55),
    (99.9, 68), (100, 80),
)
PTB_LENGTH_MEAN = 21.29
PTB_LENGTH_STD = 10.23

_NUM_TOPICS = 8
_ZIPF_EXPONENT = 1.05
_LEXICON_SEED = 20240601

# slot categories of a sentence template; each is filled from its own word list
(DET_SG, DET_PL, ADJ, N_SG, N_PL, NAME, PRON_SG, PRON_PL, OBJ_SG, OBJ_PL, VT_SG, VT_PL, VI_SG,
 VI_PL, V_PAST_T, V_PAST_I, V_BASE_T, V_BASE_I, ADV, PREP, CONJ, THAT, MODAL, SAY_SG, SAY_PL,
 NUM) = range(26)

_FUNCTION_WORDS = {
    DET_SG: ["the", "a", "this", "its", "each", "every", "another", "that", "one"],
    DET_PL: ["the", "these", "those", "some", "many", "all", "most", "several"],
    PRON_SG: ["it", "he", "she"],
    PRON_PL: ["they", "we"],
    OBJ_SG: ["it", "him", "her"],
    OBJ_PL: ["them", "us"],
    PREP: ["of", "in", "for", "on", "with", "at", "from", "by", "about", "after", "over",
           "under", "into", "against"],
    CONJ: ["and", "but", "while", "because", "although", "so", "as", "or"],
    THAT: ["that"],
    MODAL: ["will", "would", "could", "may", "might", "should", "can", "must"],
    SAY_SG: ["says", "said", "believes", "expects", "reports"],
    SAY_PL: ["say", "said", "believe", "expect", "report"],
    NUM: ["N"],
}
_OPEN_CLASS_SIZES = {"noun": 1000, "verb_t": 250, "verb_i": 150, "adj": 400, "adv": 80,
                     "name": 200}
_ONSETS = ["b", "br", "c", "ch", "cl", "d", "dr", "f", "fl", "g", "gr", "h", "j", "k", "l", "m",
           "n", "p", "pl", "pr", "r", "s", "sh", "sl", "st", "t", "th", "tr", "v", "w", "z"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "oo", "ou"]
_CODAS = ["", "", "n", "m", "r", "l", "st", "nd", "rk", "p", "t", "g", "mp", "sk"]


def _make_stems(count, rng, taken, suffixes):
    """`count` new stems whose inflected forms (`stem + suffix`) are all unused words."""
    stems = []
    while len(stems) < count:
        syllables = 1 + (rng.random() < 0.6) + (rng.random() < 0.1)
        stem = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables))
        stem += rng.choice(_CODAS)
        forms = {stem + suffix for suffix in suffixes}
        if len(stem) >= 3 and not forms & taken:
            taken.update(forms)
            stems.append(stem)
    return stems


def _topic_order(size, rng):
    """A reordering of Zipf ranks within bands [1, 2), [2, 4), [4, 8), ...: a topic changes
    which words are frequent while the overall rank-frequency curve stays Zipfian."""
    order, start = [], 0
    while start < size:
        end = min(2 * start + 1, size)
        order.append(start + rng.permutation(end - start))
        start = end
    return np.concatenate(order)


class _Lexicon:
    """Word lists per slot category, fixed for every seed (the corpus seed picks sentences)."""

    def __init__(self):
        rng = random.Random(_LEXICON_SEED)
        taken = {w for words in _FUNCTION_WORDS.values() for w in words}
        sizes = _OPEN_CLASS_SIZES
        noun = _make_stems(sizes["noun"], rng, taken, ("", "s"))
        vt = _make_stems(sizes["verb_t"], rng, taken, ("", "s", "ed"))
        vi = _make_stems(sizes["verb_i"], rng, taken, ("", "s", "ed"))
        adj = [s + "ic" for s in _make_stems(sizes["adj"], rng, taken, ("ic",))]
        adv = _make_stems(sizes["adv"], rng, taken, ("ly",))
        name = _make_stems(sizes["name"], rng, taken, ("",))
        self.words = {**_FUNCTION_WORDS,
                      N_SG: noun, N_PL: [s + "s" for s in noun], NAME: name,
                      VT_SG: [s + "s" for s in vt], VT_PL: vt, V_BASE_T: vt,
                      V_PAST_T: [s + "ed" for s in vt],
                      VI_SG: [s + "s" for s in vi], VI_PL: vi, V_BASE_I: vi,
                      V_PAST_I: [s + "ed" for s in vi],
                      ADJ: adj, ADV: [s + "ly" for s in adv]}
        vocab = sorted({w for words in self.words.values() for w in words})
        index = {w: i for i, w in enumerate(vocab)}
        self.vocab = np.array(vocab, dtype=object)
        self.ids = {cat: np.array([index[w] for w in words]) for cat, words in self.words.items()}
        self.cdf = {}
        for cat, words in self.words.items():
            weights = 1.0 / np.arange(1, len(words) + 1) ** _ZIPF_EXPONENT
            self.cdf[cat] = np.cumsum(weights) / weights.sum()
        topic_rng = np.random.default_rng(_LEXICON_SEED)
        # per topic, a reordering of the content classes' Zipf ranks
        self.topic_order = {cat: np.stack([_topic_order(len(self.words[cat]), topic_rng)
                                           for _ in range(_NUM_TOPICS)])
                            for cat in (N_SG, ADJ, VT_SG, VI_SG)}
        for shared, source in ((N_PL, N_SG), (VT_PL, VT_SG), (V_BASE_T, VT_SG),
                               (V_PAST_T, VT_SG), (VI_PL, VI_SG), (V_BASE_I, VI_SG),
                               (V_PAST_I, VI_SG)):
            self.topic_order[shared] = self.topic_order[source]


_LEXICON = None


def _lexicon():
    global _LEXICON
    if _LEXICON is None:
        _LEXICON = _Lexicon()
    return _LEXICON


class _Grammar:
    """Builds a slot template of exactly n tokens; `r` is a `random.Random`."""

    def __init__(self, r):
        self.r = r

    def noun_phrase(self, n, plural, subject=False):
        r = self.r.random()
        if n == 1:
            pronoun = (PRON_PL if plural else PRON_SG) if subject else \
                (OBJ_PL if plural else OBJ_SG)
            return [pronoun] if r < 0.45 else [N_PL if plural else NAME]
        if n == 2:
            if plural:
                return [DET_PL, N_PL] if r < 0.6 else ([ADJ, N_PL] if r < 0.85 else [NUM, N_PL])
            return [DET_SG, N_SG] if r < 0.85 else [NAME, NAME]
        det, noun = (DET_PL, N_PL) if plural else (DET_SG, N_SG)
        if n == 3:
            if r < 0.55:
                return [det, ADJ, noun]
            return [det, N_SG, noun] if r < 0.8 or not plural else [NUM, ADJ, N_PL]
        head = [det, ADJ, noun] if self.r.random() < 0.35 else [det, noun]
        rest = n - len(head)
        if rest < 2 or (n == 4 and r < 0.3):
            return [det, ADJ, ADJ, noun]
        if r < 0.15:
            return head + [THAT] + self.verb_phrase(rest - 1, plural)
        return head + self.prep_phrase(rest)

    def prep_phrase(self, n):
        return [PREP] + self.noun_phrase(n - 1, self.r.random() < 0.4)

    def verb_phrase(self, n, plural):
        r = self.r.random()
        vt, vi, say = (VT_PL, VI_PL, SAY_PL) if plural else (VT_SG, VI_SG, SAY_SG)
        if self.r.random() < 0.35:
            vt, vi = V_PAST_T, V_PAST_I
        if n == 1:
            return [vi]
        if n == 2:
            if r < 0.4:
                return [vt] + self.noun_phrase(1, self.r.random() < 0.4)
            return [vi, ADV] if r < 0.6 else ([MODAL, V_BASE_I] if r < 0.8 else [ADV, vi])
        if r < 0.15 and n >= 4:
            return [say, THAT] + self.clause(n - 2)
        if r < 0.3:
            return [MODAL, V_BASE_T] + self.noun_phrase(n - 2, self.r.random() < 0.4)
        if r < 0.45:
            return [vi] + self.prep_phrase(n - 1)
        obj = n - 1 if n < 5 or self.r.random() < 0.5 else self.r.randint(1, n - 3)
        out = [vt] + self.noun_phrase(obj, self.r.random() < 0.4)
        return out + self.prep_phrase(n - 1 - obj) if obj < n - 1 else out

    def clause(self, n):
        plural = self.r.random() < 0.4
        if n == 1:
            return self.noun_phrase(1, plural, subject=True)
        subject = 1 if n == 2 else self.r.randint(1, min(n - 1, 2 + n // 3))
        return self.noun_phrase(subject, plural, subject=True) \
            + self.verb_phrase(n - subject, plural)

    def sentence(self, n):
        if n >= 12 and self.r.random() < 0.45:
            first = self.r.randint(5, n - 6)
            return self.clause(first) + [CONJ] + self.clause(n - first - 1)
        return self.clause(n)


def sample_lengths(num, rng):
    """`num` sentence lengths following PTB's spread; `rng` is a numpy Generator."""
    pct, length = np.array(PTB_LENGTH_QUANTILES, dtype=np.float64).T
    return np.rint(np.interp(rng.random(num) * 100.0, pct, length)).astype(np.int64)


def generate_sentences(num, seed=0):
    """`num` generated sentences (lists of str tokens), deterministic given `seed`."""
    if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num < 0:
        raise ValueError(f"num: expected a non-negative int, got {num!r}")
    lex = _lexicon()
    rng = np.random.default_rng(seed)
    grammar = _Grammar(random.Random(seed))
    lengths = sample_lengths(num, rng)
    templates = [grammar.sentence(int(n)) for n in lengths]
    slots = np.fromiter((s for t in templates for s in t), dtype=np.int64,
                        count=int(lengths.sum()))
    topics = np.repeat(rng.integers(0, _NUM_TOPICS, size=num), lengths)
    ids = np.empty_like(slots)
    for cat, cdf in lex.cdf.items():
        where = np.flatnonzero(slots == cat)
        if not where.size:
            continue
        rank = np.minimum(np.searchsorted(cdf, rng.random(where.size)), len(cdf) - 1)
        if cat in lex.topic_order:
            rank = lex.topic_order[cat][topics[where], rank]
        ids[where] = lex.ids[cat][rank]
    tokens = lex.vocab[ids].tolist()
    bounds = np.concatenate([[0], np.cumsum(lengths)]).tolist()
    return [tokens[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def generate_corpus(num_train=20000, num_valid=2000, seed=0):
    """A train and a validation split of generated sentences (lists of str tokens).

    The splits come from independent streams of the same grammar and lexicon, so validation
    may hold a few rare words that training never saw (as PTB's does).

    Example:
        >>> train, valid = generate_corpus(1000, 100, seed=1)
        >>> len(train), len(valid)
        (1000, 100)
    """
    return (generate_sentences(num_train, seed=seed),
            generate_sentences(num_valid, seed=seed + 1_000_003))


def vocabulary():
    """Every word form the generator can emit, sorted."""
    return _lexicon().vocab.tolist()


def load_ptb_style(path):
    """Sentences of a one-sentence-a-line text file, as lists of str tokens.

    Lines are stripped and split on spaces (runs of spaces give no empty tokens); empty lines
    are skipped. MXNet's lstm_bucketing.py splits unstripped lines, so its last token of each
    line keeps the '\\n'; here it does not.
    """
    path = Path(path)
    if not path.is_file():
        raise OSError(f"load_ptb_style: no such file {str(path)!r}; PTB-style data is one "
                      f"sentence a line, tokens separated by spaces")
    with path.open(encoding="utf-8") as f:
        return [[w for w in line.strip().split(" ") if w] for line in f if line.strip()]
