"""Tests of the boilerplate classifier, its shipped model and the content metric."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest

from dedupe.boilerplate import (BLOCK_FEATURES, CONTEXT_FEATURES, BoilerplateClassifier,
                                block_features, context_features, train_model)
from dedupe.errors import ConfigError, InputError
from dedupe.evaluation import (LabelledPage, caveat_mask, content_scores, duplicate_strip_mask,
                               load_labelled)

SEEDS = Path(__file__).parent / "data" / "seeds.labelled.jsonl"


@pytest.fixture(scope="module")
def shipped():
    return BoilerplateClassifier.load()


@pytest.fixture(scope="module")
def seeds():
    return {page.id[:3]: page for page in load_labelled(SEEDS)}


def score_of(clf, page, prefix: str) -> float:
    """P(boilerplate) of the FIRST block of ``page`` that starts with ``prefix``."""
    hits = [i for i, t in enumerate(page.texts) if t.startswith(prefix)]
    assert hits, f"{prefix!r} not in {page.id}"
    return float(clf.predict_proba(page.texts)[hits[0]])


# -- the shipped model ------------------------------------------------------------------------

def test_shipped_model_loads_without_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the model must load without network access")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    clf = BoilerplateClassifier.load()
    assert 0 < clf.threshold < 1
    assert clf.predict_proba(["Log In", "Subscribe"]).shape == (2,)


def test_shipped_model_is_plain_versioned_json():
    path = Path(__file__).parents[1] / "src" / "dedupe" / "models" / "boilerplate-v1.json"
    obj = json.loads(path.read_text(encoding="utf-8"))
    assert obj["format_version"] == 1
    assert obj["stage2_features"] == list(BLOCK_FEATURES) + list(CONTEXT_FEATURES)
    assert obj["training"]["n_blocks"] > 10_000
    for stage in ("stage1", "stage2"):
        assert all(isinstance(x, float) for x in obj[stage]["coef"])


@pytest.mark.parametrize("seed, prefix", [
    ("001", "Catch all the World News"),
    ("001", "Join Our Whatsapp Channel"),
    ("001", "Read More:"),
    ("001", "Russia avoids Iran unrest intervention to protect its reputation [Image Credits"),
    ("000", "Powered by automated translation"),
    ("000", "Updated: October 27, 2022"),
    ("002", "•"),
])
def test_seed_boilerplate_is_stripped(shipped, seeds, seed, prefix):
    page = seeds[seed]
    assert score_of(shipped, page, prefix) >= shipped.threshold


def test_seed_003_is_kept_whole(shipped, seeds):
    probs = shipped.predict_proba(seeds["003"].texts)
    assert (probs < shipped.threshold).all(), probs


@pytest.mark.parametrize("prefix", [
    "Visiting lecturer", "Russian President Vladimir Putin and Iranian President",  # lines 1-2
    "Material support", "Learning repression", "Elite calculations", "Diplomatic protection",
    "Shaping Tehran", "'Under control'", "A familiar mobilization", "A recurring sequence",
    "International attention", "Other powerful images",
])
def test_seed_002_short_lines_inside_content_are_kept(shipped, seeds, prefix):
    page = seeds["002"]
    assert score_of(shipped, page, prefix) < shipped.threshold


@pytest.mark.parametrize("seed, first, last", [("000", 8, 30), ("001", 4, 17)])
def test_seed_article_paragraphs_are_kept(shipped, seeds, seed, first, last):
    page = seeds[seed]
    raw = (Path(__file__).parents[1] / "seeds").glob(f"{seed}_*.txt")
    lines = next(raw).read_text(encoding="utf-8").splitlines()
    article = {lines[i - 1].strip() for i in range(first, last + 1) if lines[i - 1].strip()}
    scores = dict(zip(page.texts, shipped.predict_proba(page.texts)))  # texts are unique here
    assert article and all(scores[t] < shipped.threshold for t in article)


def test_context_decides_a_short_line(shipped):
    """The same short line is kept between article paragraphs and stripped in a menu."""
    prose = ("The ministry said on Tuesday that the new rules would apply to every company that "
             "handles personal data, and that fines could reach four percent of turnover.")
    article = [prose, "Material support", prose.replace("Tuesday", "Monday")]
    menu = ["Home", "World", "Business", "Sign in", "Material support", "Subscribe", "Contact us",
            prose]
    assert shipped.predict_proba(article)[1] < shipped.threshold
    assert shipped.predict_proba(menu)[4] >= shipped.threshold


JAPANESE_PAGE = ["サイトマップ", "プライバシーポリシー", "お問い合わせ", "ホーム › ニュース ›",
                 "市議会は火曜日、長い議論の末に港湾地区の新しい予算を承認することを決議した。",
                 "住民らは、この計画により旧市場広場周辺の狭い通りの交通量が増えると述べた。市長は新しい駐車場を建設すると約束した。",
                 "予算には、老朽化した橋の修理と公園の整備のための費用も含まれている。工事は来年の春に始まる予定だ。",
                 "関連記事"]
CHINESE_PAGE = ["首页", "联系我们", "市议会周二投票批准了港区的新预算，此前经过了长时间的辩论。",
                "居民们表示，该计划将给老市场广场周围的狭窄街道带来更多交通。市长承诺将修建新的停车场。",
                "预算还包括修复旧桥和改善公园的费用。工程预计将于明年春天开始。", "相关新闻", "版权所有"]


@pytest.mark.parametrize("page, article", [(JAPANESE_PAGE, slice(4, 7)), (CHINESE_PAGE, slice(2, 5))])
def test_pages_written_without_spaces_keep_their_article(shipped, page, article):
    """A paragraph of Japanese or Chinese read as one long "word" looked like page furniture:
    every block of such a page was stripped (all of the one Japanese page of the labelled set,
    content and all). Each character is now a word, and 。 ends a sentence."""
    p = shipped.predict_proba(page)
    body = np.zeros(len(page), bool)
    body[article] = True
    assert (p[body] < shipped.threshold).all() and (p[~body] >= shipped.threshold).all(), p.round(3)


ARTICLES_WITH_OTHER_FULL_STOPS = {
    'hindi': [
        'नगर परिषद ने हवाई अड्डे तक नई ट्राम लाइन को मंजूरी दी',
        'नगर परिषद ने मंगलवार को केंद्रीय स्टेशन को हवाई अड्डे से जोड़ने वाली बारह किलोमीटर लंबी ट्राम लाइन के निर्माण के पक्ष में मतदान किया।',
        'पांच घंटे चली बैठक के बाद पार्षदों ने 34 के मुकाबले 11 मतों से योजना का समर्थन किया, जबकि विरोधियों ने चेतावनी दी कि लागत दोगुनी हो गई है।',
        'परिवहन विभाग के अनुमान के अनुसार इस लाइन पर नौ स्टेशन होंगे और शुरू होने के बाद इससे रोजाना लगभग चालीस हजार यात्री सफर करेंगे।',
        'महापौर हेमा कपूर ने कहा कि यह फैसला उस शहर के लिए एक मोड़ है जिसकी सड़कें देश की सबसे भीड़भाड़ वाली सड़कों में शामिल हो गई हैं।',
        'निर्माण कार्य अगले वसंत में शुरू होगा और चार साल तक चलेगा, और पहली ट्राम 2029 की गर्मियों में चलने लगेगी।',
    ],
    'bengali': [
        'পৌরসভা বিমানবন্দর পর্যন্ত নতুন ট্রাম লাইন অনুমোদন করেছে',
        'পৌরসভা মঙ্গলবার কেন্দ্রীয় স্টেশনকে বিমানবন্দরের সঙ্গে যুক্ত করতে বারো কিলোমিটার দীর্ঘ একটি ট্রাম লাইন নির্মাণের পক্ষে ভোট দিয়েছে।',
        'পাঁচ ঘণ্টার বৈঠকের পর কাউন্সিলররা ১১টির বিপরীতে ৩৪টি ভোটে পরিকল্পনাটি অনুমোদন করেন, যদিও বিরোধীরা সতর্ক করেছিলেন যে খরচ দ্বিগুণ হয়েছে।',
        'পরিবহন বিভাগের পূর্বাভাস অনুযায়ী লাইনটিতে নয়টি স্টেশন থাকবে এবং চালু হওয়ার পর প্রতিদিন প্রায় চল্লিশ হাজার যাত্রী এটি ব্যবহার করবেন।',
        'মেয়র বলেছেন, এই সিদ্ধান্ত এমন একটি শহরের জন্য মোড় ঘোরানো মুহূর্ত, যার সড়কগুলো গত দশকে দেশের সবচেয়ে যানজটপূর্ণ সড়কে পরিণত হয়েছে।',
        'আগামী বসন্তে নির্মাণকাজ শুরু হবে এবং চার বছর চলবে, সবকিছু ঠিক থাকলে ২০২৯ সালের গ্রীষ্মে প্রথম ট্রাম চলবে।',
    ],
    'urdu': [
        'بلدیہ نے ہوائی اڈے تک نئی ٹرام لائن کی منظوری دے دی',
        'بلدیہ نے منگل کے روز مرکزی اسٹیشن کو ہوائی اڈے سے ملانے والی بارہ کلومیٹر طویل ٹرام لائن کی تعمیر کے حق میں ووٹ دیا اور برسوں کی بحث ختم ہو گئی۔',
        'پانچ گھنٹے طویل اجلاس کے بعد ارکان نے گیارہ کے مقابلے میں چونتیس ووٹوں سے منصوبے کی حمایت کی، جبکہ مخالفین نے خبردار کیا کہ لاگت دگنی ہو چکی ہے۔',
        'محکمہ ٹرانسپورٹ کے اندازوں کے مطابق اس لائن پر نو اسٹیشن ہوں گے اور روزانہ تقریباً چالیس ہزار مسافر اس پر سفر کریں گے۔',
        'میئر نے کہا کہ یہ فیصلہ اس شہر کے لیے ایک اہم موڑ ہے جس کی سڑکیں گزشتہ دہائی میں ملک کی سب سے مصروف سڑکوں میں شامل ہو گئی ہیں۔',
        'تعمیراتی کام اگلے موسم بہار میں شروع ہوگا اور چار سال جاری رہے گا، اور پہلی ٹرام دو ہزار انتیس کے موسم گرما میں چلے گی۔',
    ],
    'armenian': [
        'Քաղաքային խորհուրդը հաստատել է դեպի օդանավակայան տանող նոր տրամվայի գիծը',
        'Քաղաքային խորհուրդը երեքշաբթի օրը քվեարկել է տասներկու կիլոմետրանոց տրամվայի գծի կառուցման օգտին, որը կկապի կենտրոնական կայարանը օդանավակայանի հետ։',
        'Հինգ ժամ տևած նիստից հետո պատգամավորները 34 կողմ և 11 դեմ ձայներով պաշտպանել են ծրագիրը, թեև ընդդիմախոսները զգուշացրել են, որ ծախսերը կրկնապատկվել են։',
        'Տրանսպորտի վարչության կանխատեսումների համաձայն՝ գիծը կունենա ինը կանգառ և օրական կտեղափոխի մոտ քառասուն հազար ուղևոր։',
        'Քաղաքապետը նշել է, որ որոշումը շրջադարձային է մի քաղաքի համար, որի փողոցները վերջին տասնամյակում դարձել են երկրի ամենածանրաբեռնվածներից։',
        'Շինարարությունը կսկսվի հաջորդ գարնանը և կտևի չորս տարի, իսկ առաջին տրամվայները կշարժվեն 2029 թվականի ամռանը։',
    ],
}


@pytest.mark.parametrize("language", sorted(ARTICLES_WITH_OTHER_FULL_STOPS))
def test_articles_whose_sentences_end_in_other_full_stops_are_kept(shipped, language):
    """Hindi and Bengali paragraphs end in a danda (।), Urdu's in ۔, Armenian's in ։: read as
    not ending a sentence, and with the vowel signs of Devanagari and Bengali (marks, not
    letters) counted as symbols, every block of a Hindi article was stripped as boilerplate."""
    article = ARTICLES_WITH_OTHER_FULL_STOPS[language]
    p = shipped.predict_proba(article)
    assert (p < shipped.threshold).all(), p.round(3)


def test_empty_document(shipped):
    assert shipped.predict_proba([]).shape == (0,)
    assert block_features([]).shape == (0, len(BLOCK_FEATURES))
    assert context_features(np.zeros(0), np.zeros(0)).shape == (0, len(CONTEXT_FEATURES))


def test_empty_blocks_are_boilerplate_even_when_nothing_else_is_there(shipped):
    """Blocks with no characters (or only white space) have no edges to read: a document, or a
    whole chunk, of them once failed with an IndexError."""
    assert shipped.predict_proba([""]).tolist() == [1.0]
    assert shipped.predict_proba(["", "  "]).tolist() == [1.0, 1.0]
    many = shipped.predict_proba_many([[""], ["He said the bridge would open in the spring.", ""]])
    assert many[0].tolist() == [1.0] and many[1][1] == 1.0 and many[1][0] < 0.5


# -- persistence and training -----------------------------------------------------------------

def test_save_load_round_trip_gives_identical_scores(shipped, seeds, tmp_path):
    path = tmp_path / "model.json"
    shipped.save(path)
    again = BoilerplateClassifier.load(path)
    for page in seeds.values():
        assert np.array_equal(shipped.predict_proba(page.texts), again.predict_proba(page.texts))
    assert again.hyper_parameters() == shipped.hyper_parameters()


def test_load_rejects_other_format_versions(tmp_path, shipped):
    obj = shipped.to_json()
    obj["format_version"] = 99
    path = tmp_path / "m.json"
    path.write_text(json.dumps(obj))
    with pytest.raises(InputError, match="format_version"):
        BoilerplateClassifier.load(path)
    path.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        BoilerplateClassifier.load(path)
    # hostile numbers and shapes: one-line errors, not TypeError / OverflowError tracebacks, and
    # not a model that scores every block NaN (boilerplate detection silently off)
    good = shipped.to_json()
    for change, message in [({"hyper_parameters": None}, "hyper_parameters must be an object"),
                            ({"threshold": 5}, f"{path}: bad hyper_parameters .*threshold"),
                            ({"hyper_parameters": "ab"}, "hyper_parameters must be an object"),
                            ({"stage1": {**good["stage1"], "intercept": 10**400}}, "not a boilerplate model"),
                            ({"stage1": {**good["stage1"], "mean": [float("nan")] * len(good["stage1"]["mean"])}},
                             "not finite"),
                            ({"stage2": {**good["stage2"], "scale": [0.0] * len(good["stage2"]["scale"])}},
                             "a scale of 0")]:
        path.write_text(json.dumps({**good, **change}))
        with pytest.raises(InputError, match=message):
            BoilerplateClassifier.load(path)


def test_train_model_on_a_small_labelled_file(tmp_path):
    out = tmp_path / "small.json"
    cv = train_model([str(SEEDS)], str(out), cv_folds=2)
    assert cv["pages"] == 5 and cv["folds"] == 2
    figures = cv["figures"]["classifier@0.5"]["with_dedup"]["all_labels"]
    assert 0.0 <= figures["word_f1"] <= 1.0
    assert figures == pytest.approx(figures)  # plain floats, JSON-serialisable
    assert cv["figures"]["keep_all"]["alone"]["all_labels"]["word_recall"] == 1.0
    clf = BoilerplateClassifier.load(out)
    assert clf.metadata["n_documents"] == 5
    assert clf.metadata["cross_validation"] == json.loads(json.dumps(cv))
    assert clf.predict_proba(["a", "b c"]).shape == (2,)


def test_fit_learns_and_validates_inputs():
    prose = "the court said that it would hear the case in the spring of next year"
    docs = [["Log In", "Subscribe", prose + f" number {k}.", "Share this story"] for k in range(6)]
    labels = [[1, 1, 0, 1]] * 6
    clf = BoilerplateClassifier(inner_folds=3).fit(docs, labels)
    probs = clf.predict_proba(docs[0])
    assert probs[2] < 0.5 and probs[0] > 0.5
    with pytest.raises(InputError, match="labels"):
        clf.fit(docs, [[1, 1, 0]] * 6)
    with pytest.raises(InputError, match="both"):
        clf.fit(docs, [[0, 0, 0, 0]] * 6)
    with pytest.raises(ConfigError, match="threshold"):
        BoilerplateClassifier(threshold=1.5)
    with pytest.raises(ConfigError, match="weighting"):
        BoilerplateClassifier(weighting="chars")
    with pytest.raises(ConfigError, match="not trained"):
        BoilerplateClassifier().predict_proba(["x"])


# -- labelled files ---------------------------------------------------------------------------

def test_seed_labels_follow_the_promises(seeds):
    assert [p.labels.count("duplicate") for p in seeds.values()] == [0, 0, 6, 0, 3]
    assert set(seeds["003"].labels) == {"content"}
    labels = seeds["004"].labels  # blocks = non-empty lines 1, 3, 4, ..., 30
    assert labels[:4] + labels[7:9] == ["content"] * 6
    assert labels[4:7] == ["duplicate"] * 3 and labels[9:] == ["boilerplate"] * 20


GOOD = {"id": "p", "url": "https://example.com/a", "paragraphs": [
    {"text": "Home", "label": "boilerplate"}, {"text": "Body text.", "label": "content"}]}


@pytest.mark.parametrize("bad_line, message", [
    ('{"id": "x", "paragraphs": [', "not valid JSON"),
    ('{"id": "x"}', '"paragraphs"'),
    ('{"id": "x", "paragraphs": [{"label": "content"}]}', '"text"'),
    ('{"id": "x", "paragraphs": [{"text": "a"}]}', '"label"'),
    ('{"id": "x", "paragraphs": [{"text": "a", "label": "junk"}]}', "unknown label 'junk'"),
])
def test_load_labelled_names_file_and_line(tmp_path, bad_line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(GOOD) + "\n\n" + bad_line + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=message) as info:
        list(load_labelled(path))
    assert info.value.location == f"{path}:3"


def test_load_labelled_rejects_an_empty_file(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(InputError, match="no labelled pages") as info:
        list(load_labelled(path))
    assert str(path) in str(info.value)
    with pytest.raises(InputError, match="cannot open"):
        list(load_labelled(tmp_path / "missing.jsonl"))


def test_load_labelled_reads_pages(tmp_path):
    path = tmp_path / "ok.jsonl"
    path.write_text(json.dumps(GOOD) + "\n", encoding="utf-8")
    (page,) = load_labelled(path)
    assert (page.id, page.host, page.texts, page.labels) == (
        "p", "example.com", ["Home", "Body text."], ["boilerplate", "content"])


# -- the metric -------------------------------------------------------------------------------

def test_a_paragraph_of_white_space_is_no_block_to_strip():
    """An empty paragraph labelled boilerplate counted as a strip the cleaner missed (it never
    becomes a block, so nothing could strip it)."""
    page = LabelledPage("t", "", "", ["a b c d", "  ", "e f"], ["content", "boilerplate", "boilerplate"])
    s = content_scores([page], [[True, True, False]])
    assert s["strip_recall"] == 1.0 and s["blocks"] == 2


def test_content_scores_on_a_hand_computed_example():
    # words: 4 content, 2 boilerplate, 3 duplicate, 6 content, 1 boilerplate
    page = LabelledPage("t", "", "", ["a b c d", "e f", "a b c", "g h i j k l", "m"],
                        ["content", "boilerplate", "duplicate", "content", "boilerplate"])
    keep = [True, True, True, False, False]
    s = content_scores([page], [keep])
    # kept words 4 + 2 + 3 = 9, of which content 4; content words 4 + 6 = 10
    assert s["word_precision"] == pytest.approx(4 / 9)
    assert s["word_recall"] == pytest.approx(4 / 10)
    assert s["word_f1"] == pytest.approx(2 * (4 / 9) * 0.4 / (4 / 9 + 0.4))
    # stripped blocks 3 and 4: one of them is not content; not-content blocks: 1, 2, 4
    assert s["strip_precision"] == pytest.approx(1 / 2)
    assert s["strip_recall"] == pytest.approx(1 / 3)
    # leaving block 1 out of the count: kept 7 words, 4 of them content
    ignored = content_scores([(page.texts, page.labels)], [keep],
                             [[False, True, False, False, False]])
    assert ignored["word_precision"] == pytest.approx(4 / 7)
    assert ignored["strip_recall"] == pytest.approx(1 / 2)


def test_content_scores_edge_cases():
    page = (["x y"], ["content"])
    assert content_scores([page], [[False]])["word_precision"] == 1.0  # nothing kept
    assert content_scores([page], [[False]])["word_f1"] == 0.0
    with pytest.raises(ValueError):
        content_scores([page], [[True, False]])


def test_caveat_and_duplicate_masks():
    page = LabelledPage("t", "", "", [
        "Log In", "Big Headline Here", "By Jane Doe", "Body one is here and long.",
        "Share this article", "Body two.", "Footer"],
        ["boilerplate", "boilerplate", "boilerplate", "content", "boilerplate", "content",
         "boilerplate"])
    assert caveat_mask(page, before=2).tolist() == [False, True, True, False, False, False,
                                                    False]
    texts = ["one two three four five", "One two  three four five", "a b", "a b"]
    assert duplicate_strip_mask(texts).tolist() == [False, True, False, False]


# -- batched scoring ----------------------------------------------------------------------------

def _reference_context(s: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The per-document context features written out directly (the pre-batching code)."""
    n = len(s)
    edge = (s * w).sum() / max(w.sum(), 1e-9) if w.sum() > 0 else s.mean()
    pad_s = np.concatenate(([edge], s, [edge]))
    pad_w = np.concatenate(([0.0], w, [0.0]))
    mass = w * (1 - s)
    total = max(mass.sum(), 1e-9)
    before = (np.cumsum(mass) - mass) / total
    after = np.maximum(1 - before - mass / total, 0.0)
    is_long = w >= 20

    def nearest(order):
        out, last = np.full(n, edge), None
        for i in order:
            if last is not None:
                out[i] = s[last]
            if is_long[i]:
                last = i
        return out

    def window(v, wt, r):
        vp = np.concatenate((np.full(r, edge), v * wt, np.full(r, edge)))
        wp = np.concatenate((np.ones(r), wt, np.ones(r)))
        cv, cw = np.concatenate(([0], np.cumsum(vp))), np.concatenate(([0], np.cumsum(wp)))
        i = np.arange(n)
        return (cv[i + 2 * r + 1] - cv[i] - v * wt) / np.maximum(
            cw[i + 2 * r + 1] - cw[i] - wt, 1e-9)

    prev_long, next_long = nearest(range(n)), nearest(range(n - 1, -1, -1))
    lw, ones = np.log1p(w), np.ones(n)
    r3 = [np.concatenate(([0] * 3, lw, [0] * 3))[i:i + 7].max() for i in range(n)]
    return np.column_stack([
        s, pad_s[:-2], pad_s[2:], np.maximum(pad_s[:-2], pad_s[2:]), prev_long, next_long,
        np.maximum(prev_long, next_long), window(s, ones, 2), window(s, ones, 4),
        window(s, ones, 8), window(s, lw, 3), window(s, lw, 8), before, after,
        np.minimum(before, after), np.log1p(pad_w[:-2]), np.log1p(pad_w[2:]), r3,
        np.full(n, s.mean()), np.full(n, (s * w).sum() / max(w.sum(), 1e-9))])


def _synthetic_documents(seed_texts: list[list[str]]) -> list[list[str]]:
    rng = np.random.default_rng(7)
    pool = [b for doc in seed_texts for b in doc] + [
        "", "•", "|", "***", "By Jane Doe", "by", "Share this", "Read More:", "İstanbul",
        "Updated: Oct 2, 2022, 9:05 AM", "12/3/2020", "www.example.com @me #tag", "© 2020"]
    docs = [[], ["Log In"], ["•"], ["", "   "], ["By"], ["By Reuters", "By"], ["İİ by x", "By x"]]
    for _ in range(60):
        size = int(rng.integers(0, 40))
        docs.append([pool[int(rng.integers(len(pool)))][: int(rng.integers(0, 400))]
                     for _ in range(size)])
    return docs


def test_predict_proba_many_equals_one_document_at_a_time(shipped, seeds):
    raw = sorted((Path(__file__).parents[1] / "seeds").glob("*.txt"))
    seed_docs = [[ln for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
                 for p in raw]
    docs = seed_docs + _synthetic_documents(seed_docs) + [[], ["x"]] + seed_docs[:2]
    single = [shipped.predict_proba(d) for d in docs]
    assert [len(p) for p in single] == [len(d) for d in docs]
    for chunk in (1, 3, 16, len(docs)):
        many = [p for i in range(0, len(docs), chunk)
                for p in shipped.predict_proba_many(docs[i:i + chunk])]
        assert len(many) == len(docs)
        for a, b in zip(single, many):
            assert a.shape == b.shape
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=0)
    assert shipped.predict_proba_many([]) == []
    assert [p.shape for p in shipped.predict_proba_many([[], []])] == [(0,), (0,)]


def test_context_features_match_the_direct_per_document_formulas():
    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 8, 9, 17, 40, 130, 300):
        s = rng.random(n)
        w = rng.integers(0, 60, n).astype(float) * (rng.random(n) < 0.8)
        np.testing.assert_allclose(context_features(s, w), _reference_context(s, w),
                                   rtol=1e-12, atol=1e-15)


def test_vocabulary_scan_finds_what_the_plain_pattern_finds(seeds):
    """The scan adds a guard and first-character look-aheads for speed, and is only tried where
    a token says a match may start; the matches (start and group) must be those of the plain
    vocabulary pattern, and so must the vocabulary features of a chunk of documents."""
    import random
    import re

    from dedupe.boilerplate import (_GROUP_INDEX, _VOCAB, _VOCAB_SCAN, BLOCK_FEATURES, _features_many,
                                    _token_code, _vocab_candidates, _vocab_hits_at, _vocab_program)
    from dedupe import native

    kernels = native.load()
    rnd = random.Random(0)
    words = ["share", "read more", "by ", "\nby ", "www.", ".com", "@x", "#", "©", "cookies", "terms of",
             "jan 3", "12:30", "2022", "3 days ago", "1/2/2023", "photo", "staff writer", " ", "-", "a", "9",
             "sign up", "e-mail", "email", "\n", "privacy", "reuters", "x.co.uk", "http://", "menu", "z",
             "(", "market 5", "may", "subscriber", "xcookie", "sept. 4", "19", "apps", "ap,", "written by",
             "lesen sie auch", "читайте также", "相关阅读", "延 伸 阅 读", "यह भी पढ़ें", "यह भी पढ़ें", "ने",
             "поделиться", "anzeige", "foto", "à lire", "lire", "关注我们", "关", "版权所有", "ı", "İ"]
    texts = ["\n".join(page.texts).lower() for page in seeds.values()]
    texts += ["".join(rnd.choice(words) for _ in range(rnd.randint(1, 40))) for _ in range(2000)]
    for text in texts:
        plain = [(m.start(), m.lastgroup) for m in _VOCAB.finditer(text)]
        assert [(m.start(), m.lastgroup) for m in _VOCAB_SCAN.finditer(text)] == plain
        tokens = text.split()
        token_starts = np.array([m.start() for m in re.finditer(r"\S+", text)], np.int64)
        codes = np.array([_token_code(t) for t in tokens], np.int64)
        points = np.frombuffer(text.encode("utf-32-le"), np.uint32)
        candidates = _vocab_candidates(codes, tokens.__getitem__, token_starts, points)
        expected = [(p, _GROUP_INDEX[g]) for p, g in plain]
        assert _vocab_hits_at(text, candidates.tolist(), 0, len(text)) == expected
        if kernels is not None:  # the compiled matcher, as _features_many calls it
            found = kernels.vocab_scan(_vocab_program(), points, candidates, np.full(len(candidates), len(text)))
            assert list(zip(*(a.tolist() for a in found))) == expected

    # In a chunk, a document's matches do not run into the next one ("...\nby" + "By ...").
    documents = [[line for line in text.split("\n") if line.strip()] for text in texts[-300:]]
    documents += [["Story", "written by"], ["By Jane Roe", "Text"], ["x.co.uk", "by"], ["by", "by me"]]
    vocab = [f"vocab_{g}" for g in _GROUP_INDEX] + ["vocab_at_start"]
    columns = [BLOCK_FEATURES.index(name) for name in vocab]
    together = _features_many(documents)[0][:, columns]
    alone = np.vstack([_features_many([d])[0][:, columns] for d in documents])
    np.testing.assert_array_equal(together, alone)
    assert together.sum() > 500  # (not vacuous)


ARTICLE = ["The city council voted on Tuesday to build a twelve-kilometre tram line linking the central "
           "station with the airport, ending years of debate over the project.",
           "Councillors backed the plan by 34 votes to 11 after a five-hour session in which opponents "
           "warned that the cost had doubled since the first estimate was published.",
           "Construction is due to begin next spring and to last four years, with the first trams running "
           "in the summer of 2029 if the work stays on schedule."]


@pytest.mark.parametrize("teaser", [
    "Read more: Flooding closes roads in the north of the region",   # the model alone: P 0.27
    "Related: 7 strange signs you are having an allergic reaction",
    "[Related: Salesforce Dreamforce Keynote: AI, Integration, Alicia Keys And Protestors]",
    "READ MORE",
    "Related articles",
    "Lesen Sie auch: Hochwasser sperrt Straßen im Norden der Region",
    "Lire aussi : Des inondations coupent les routes du nord de la région",
    "Leia também: Enchentes fecham estradas no norte da região",
    "Читайте также: Паводок перекрыл дороги на севере региона",
    "延伸阅读：暴雨导致北部多条道路封闭",
    "関連記事：大雨で北部の道路が通行止めに",
    "यह भी पढ़ें: बाढ़ से क्षेत्र के उत्तर में सड़कें बंद",
])
def test_a_link_to_another_story_is_boilerplate_whatever_its_case_or_language(shipped, teaser):
    """A block that opens with "Read more:" (or its like, in the languages of the vocabulary)
    is a teaser for another story: stripped at CROSS_LINK_P at least, inside an article."""
    from dedupe.boilerplate import CROSS_LINK_P

    p = shipped.predict_proba(ARTICLE[:2] + [teaser] + ARTICLE[2:])
    assert p[2] >= CROSS_LINK_P
    assert (p[[0, 1, 3]] < shipped.threshold).all()


@pytest.mark.parametrize("prose", [
    "Related to this, the ministry said on Monday that it would review the tender before the summer.",
    "Read more about the study in the journal, which was published on Monday by the university.",
    "See also the report by the auditors, which found that the cost had doubled since 2019.",
    "Lire aussi les conclusions du rapport, publié lundi par la cour des comptes, qui critique le coût.",
])
def test_prose_that_opens_with_a_marker_is_no_link(shipped, prose):
    """The marker must end at a separator or end the block: a sentence that opens with the same
    words is left to the model (which keeps these)."""
    from dedupe.boilerplate import _CROSS_LINK

    assert _CROSS_LINK.match(prose) is None
    assert shipped.predict_proba(ARTICLE[:2] + [prose] + ARTICLE[2:])[2] < shipped.threshold


def test_the_link_rule_only_raises_a_score(shipped):
    """A teaser the model already scores higher keeps its score; the rule sets a floor."""
    from dedupe.boilerplate import CROSS_LINK_P

    p = shipped.predict_proba(["Related Stories", "Related", *ARTICLE, "Related:"])
    assert p[0] > CROSS_LINK_P and p[1] > CROSS_LINK_P and p[-1] >= CROSS_LINK_P


def _reference_counts(document: list[str]) -> np.ndarray:
    """The character-count features of one document's blocks, computed character by character:
    the plain definitions the vectorised ones must equal."""
    import unicodedata

    from dedupe.boilerplate import _STRIP_CHARS, STOP_WORDS

    def kind(c: str) -> str:
        if ord(c) > 0xFFFF:  # the feature table covers the Basic Multilingual Plane
            return ""
        if c.isspace():
            return "space"
        if c.isalpha() or unicodedata.category(c) in ("Mn", "Mc"):  # vowel signs are letters too
            return "upper" if c.isupper() else "alpha"
        if c.isdigit():
            return "digit"
        return "punct" if unicodedata.category(c)[0] in "PS" else ""

    texts = [b.strip() for b in document]
    normalised = [" ".join(t.lower().split()) for t in texts]
    rows = []
    for t, norm in zip(texts, normalised):
        kinds = [kind(c) for c in t]
        words = len(t.split())
        safe_words, safe_chars = max(words, 1), max(len(t), 1)
        rows.append([
            np.log1p(words),
            sum(k != "space" for k in kinds) / safe_words,
            sum(tok and kind(tok[0]) == "upper" for tok in t.split()) / safe_words,
            sum(k in ("alpha", "upper") for k in kinds) / safe_chars,
            sum(k == "digit" for k in kinds) / safe_chars,
            sum(k == "punct" for k in kinds) / safe_chars,
            np.log1p(sum(c in "|•·»/>›" for c in t)),
            np.log1p(normalised.count(norm) - 1),
            sum(tok.strip(_STRIP_CHARS) in STOP_WORDS for tok in t.lower().split()) / safe_words,
        ])
    return np.array(rows).reshape(len(texts), 9)


def test_character_counts_follow_their_plain_definitions(seeds):
    """Words, character kinds, capitalised words, separators, in-document repeats and stop words, counted
    for a whole chunk at once (ASCII-only chunks take a faster path), equal the plain
    per-character definitions."""
    names = ["log_words", "mean_word_len", "cap_word_ratio", "alpha_ratio", "digit_ratio",
             "punct_ratio", "sep_count", "repeats_in_doc", "stop_ratio"]
    columns = [BLOCK_FEATURES.index(name) for name in names]
    seed_docs = [page.texts for page in seeds.values()]
    docs = seed_docs + _synthetic_documents(seed_docs) + [
        ["Read  more:\tNow", "read more: now", "Ünïcödé Straße", "x\u2028y\x85z", "𝐁𝐨𝐥𝐝 and 😀 | • ›"],
        ["İstanbul İİ", "istanbul i̇i̇", "THE İstanbul (of)", "the i̇stanbul of"],
        ["", "A  b", " ", "a B", "", "and the, (of) «in» — it"], ["", ""]]
    ascii_only = [[b for b in d if b.isascii()] for d in docs]
    for chunk in (docs, ascii_only):
        from dedupe.boilerplate import _features_many

        together = _features_many(chunk)[0][:, columns]
        expected = np.vstack([_reference_counts(d) for d in chunk])
        np.testing.assert_allclose(together, expected, rtol=1e-12, atol=0)
    assert expected[:, -1].sum() > 0 and expected[:, 2].sum() > 0  # repeats and capitals occur


def test_compiled_context_features_equal_numpys(monkeypatch):
    """The compiled context features of a stack of documents are the numpy ones bit for bit:
    every size numpy sums differently (under 8, up to 128, halves above), empty documents
    between, long blocks at the edges or nowhere, scores of exactly 0 and 1."""
    from dedupe import native
    from dedupe.boilerplate import _context_many

    if native.load() is None:
        pytest.skip("the compiled kernels are not built or are turned off")
    rng = np.random.default_rng(11)
    sizes = np.array([1, 2, 0, 3, 7, 8, 9, 15, 16, 17, 40, 0, 127, 128, 129, 200, 300, 1000, 5])
    n = int(sizes.sum())
    s = rng.random(n)
    s[rng.random(n) < 0.05] = 0.0
    s[rng.random(n) < 0.05] = 1.0
    w = rng.integers(0, 60, n).astype(float) * (rng.random(n) < 0.8)
    w[:3] = 0.0  # a first document without words
    compiled = _context_many(s, w, sizes)
    monkeypatch.setenv("DEDUPE_NATIVE", "0")
    plain = _context_many(s, w, sizes)
    assert compiled.shape == plain.shape == (n, len(CONTEXT_FEATURES))
    for column, name in enumerate(CONTEXT_FEATURES):
        np.testing.assert_array_equal(compiled[:, column], plain[:, column], err_msg=name)


def test_compiled_document_comparisons_equal_numpys():
    """Repeats inside a document, its longest block and its three longest, compiled and in
    numpy: documents of every size (pairs compared, or hashes sorted above 32 blocks), empty
    ones, ties, many repeats."""
    from dedupe import native
    from dedupe.boilerplate import _document_blocks

    kernels = native.load()
    if kernels is None:
        pytest.skip("the compiled kernels are not built or are turned off")
    rng = np.random.default_rng(5)
    sizes = np.array([0, 1, 2, 3, 4, 0, 31, 32, 33, 100, 700, 5, 0])
    n = int(sizes.sum())
    text_hash = rng.integers(0, 12, n).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)  # many repeats
    words = rng.integers(0, 5, n).astype(float) * (rng.random(n) < 0.7)
    doc_first = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    seg = np.repeat(np.arange(len(sizes)), sizes)
    compiled = kernels.document_blocks(sizes, words, text_hash)
    plain = _document_blocks(sizes, words, text_hash, seg, doc_first)
    for got, want in zip(compiled, plain):
        np.testing.assert_array_equal(got, want)
    assert compiled[0].max() > 30 and (compiled[1] == 1).sum() >= 3
