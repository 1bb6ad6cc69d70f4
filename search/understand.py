"""Query understanding: deterministic, in-process parsing of what a query asks for, in 16 languages.

:func:`understand` reads a query (folded: lowercase, accents removed; Hangul folds to jamo) against a
fixed lexicon (en, es, fr, de, it, pt, ja, ko, zh, ar, hi, ru, tr, th, el, he) and returns
:class:`Constraint` s, each with the words it came from:

* ``type``: film/movie/película/映画/영화/片... -> ``movie``; series/série/serie/ドラマ/드라마... -> ``show``;
* ``genre``: catalog genres (comedy, comédie, komödie, コメディ, 코미디, كوميدي, कॉमेडी...) and moods
  ("feel good" -> comedy, "scary"/"halloween" -> horror, "something to cry at" -> drama);
* ``years``: decades ("90s", "años 80", "années 90", "90年代", "九十年代", "90년대", "2000 के दशक",
  "90'lar"), "before 2000", "after 2010", "between 1990 and 2000", "recent", a bare year ("1999");
* ``country``: nationality or language words ("french", "coreanas", "韓国", "한국", "bollywood",
  "turco", "российские") -> a catalog country;
* ``audience``: "for kids", "para niños", "pour enfants", "子供向け" -> a maturity ceiling that filters; a
  bare "kids"/"infantiles"/儿童 only beside a type or genre word ("kids movies", 儿童电影), never the viewer's
  age ("a movie I saw as a kid"); "family" before a type or a family genre -> the same ceiling as a boost;
* ``person``: a cast or director name from the ``people`` gazetteer the caller passes (the engine's is
  :class:`search.people.People`: names in other scripts and inflected forms are read by sound); a run of
  words with a non-Latin word in it is a name only without function words ("фильмы с Киану Ривзом");
* ``like``: "like <title>", "similar to <title>", "como <title>", "<title>のような", "<title> 같은" ->
  the title text;
* ``runtime``: a running time bound in minutes or hours ("under 90 minutes", "less than 2 hours", "menos de
  90 minutos", "moins de 2 heures", "90分以内", "2시간 이상", "90 मिनट से कम") -> ``-90`` (at most) or ``120-``
  (at least) minutes.

Inflected languages are matched by stems (``российск*`` matches российские, российский...), German
compounds by their head ("Kriegsfilme" -> war + movie), Arabic words with or without the article.
Matching is substring-free for spaced scripts: phrases sit on word boundaries; CJK, kana, Hangul and
Thai phrases match inside a word, since those scripts glue words together.

Every constraint is soft (a boost) except the explicit ones: an audience ("for kids"), a year bound
stated as one ("before 2000", "after 2010", "between 1990 and 2000") and a running time bound filter, in a
query of at most :data:`SETTING_MAX_WORDS` words (in a longer one they boost). There, a decade after "in",
"dans les", "nos"... is when the story is set and no constraint. :attr:`Understanding.share`
says how much of the query the constraints explain (by characters, function words not counted): the
engine treats a query made only of constraints ("90s french comedy") as a request for the set of
titles meeting them. The parse costs tens of microseconds (``benchmarks/understand.py``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from data.normalize import fold
from search.request import RUNTIME_MAX, RUNTIME_MIN

__all__ = ["Constraint", "Understanding", "understand", "without_sources"]

Kind = Literal["type", "genre", "years", "country", "audience", "person", "like", "runtime"]
Effect = Literal["filter", "boost"]


@dataclass(frozen=True)
class Constraint:
    """One parsed constraint: ``kind``, its ``value`` (a type, genre, ``"1990-1999"``, a country, a
    maturity level, a person's name or a title text), the ``source`` words and whether it filters or boosts."""

    kind: Kind
    value: str
    source: str
    effect: Effect


@dataclass(frozen=True)
class Understanding:
    """What :func:`understand` found, and the query with the constraint words removed (``rest``)."""

    constraints: tuple[Constraint, ...]
    rest: str
    words: int = 0
    """Words in the (folded) query."""
    share: float = 0.0
    """Share of the query's characters (spaces and function words aside) that constraint words
    explain: 1.0 for "90s french comedy" and "日本のホラー映画", 0.5 for "film français sur un chef"."""

    typed_topic: str = ""
    """:attr:`topic` as the viewer typed it (accents, kana voicing marks, composed Hangul), for the
    encoder: ``fold`` is for matching only ("韓国のゾンビ映画 電車" folds to "...ソンヒ..."; the encoder
    must read "ゾンビ 電車"). Empty when the typed words cannot be found again."""

    gloss: str = ""
    """English words for the subjects the query names in another language (ゾンビ -> "zombie"), see
    :data:`_SUBJECTS`; empty when none."""

    @property
    def encoded_topic(self) -> str:
        """What the intent channel encodes: the topic as typed, then its subjects' English glosses."""
        topic = self.typed_topic or self.topic
        return f"{topic} {self.gloss}" if topic and self.gloss else topic

    @property
    def topic(self) -> str:
        """``rest`` without function words ("sur un chef cuisinier" -> "chef cuisinier")."""
        return " ".join(w for w in self.rest.split() if w not in _STOPWORDS)

    @property
    def glossed_topic(self) -> str:
        """What the description words read: the topic, then its subjects' English glosses; a subject told
        apart from a name only by its accents (:data:`_TYPED_SUBJECTS`: Noël) is read as its gloss alone."""
        typed = set(self.typed_topic.casefold().split())
        names = {fold(word) for word in _TYPED_SUBJECTS if word in typed}
        return " ".join([*(w for w in self.topic.split() if w not in names), self.gloss]).strip()

    def of(self, kind: Kind) -> list[Constraint]:
        return [c for c in self.constraints if c.kind == kind]

    @property
    def reading(self) -> str:
        """The genre, type and country constraints in English words ("horror movies", "drama series from
        South Korea"): what a query made of nothing else means in any language. "" when it names no genre and
        no country, or names a person."""
        genres = [c.value for c in self.of("genre")]
        countries = [c.value for c in self.of("country")]
        if not (genres or countries) or self.of("person"):
            return ""
        kinds = [{"movie": "movies", "show": "series"}.get(c.value, c.value) for c in self.of("type")] or ["titles"]
        origin = [f"from {' and '.join(countries)}"] if countries else []
        return " ".join([*genres, *kinds, *origin])

    @property
    def moods(self) -> list[Constraint]:
        """The genre constraints read from a mood or an occasion ("something to cry at", "feel good",
        "scary for halloween"), not from a genre's name: their words say how a film feels, not what it is
        called (:data:`MOOD_WORDS`)."""
        return [c for c in self.constraints if c.kind == "genre" and _is_mood(c.source)]

    @property
    def mood_text(self) -> str:
        """The topic as typed followed by each mood's :data:`MOOD_READINGS` ("" without a mood)."""
        readings = [MOOD_READINGS.get(c.value, c.value) for c in self.moods]
        return " ".join([self.typed_topic or self.topic, *readings]).strip() if readings else ""


def _entries(value: str, *phrases: str) -> dict[str, str]:
    return dict.fromkeys(phrases, value)


# A trailing "*" makes a stem: it matches any word starting with it (spaced scripts only).
_TYPES: dict[str, str] = {
    **_entries("movie", "movie", "movies", "film*", "pelicula*", "peli", "pelis", "cine", "kino", "spielfilm*",
               "фильм*", "кино", "映画", "电影", "電影", "影片", "片", "영화", "فيلم", "أفلام", "افلام", "الفيلم",
               "फिल्म", "फिलम", "फिलमें", "फिलमों", "सिनेमा", "ταινια", "ταινιες", "סרט", "סרטי", "סרטים",
               "หนัง", "ภาพยนตร์"),
    **_entries("show", "series", "show", "shows", "tv show", "tv shows", "tv series", "serie*", "seriado*",
               "seriale", "sitcom*", "telenovela*", "dizi*", "сериал*", "ドラマ", "シリーズ", "电视剧", "電視劇",
               "剧集", "连续剧", "美剧", "韩剧", "日剧", "드라마", "시리즈", "مسلسل", "مسلسلات", "سلسلة",
               "सीरीज़", "सीरीज", "धारावाहिक", "वेब सीरीज", "σειρα", "σειρες", "סדרה", "סדרות", "סדרת",
               "ซีรีส์", "ซีรี่ส์", "ละคร"),
}  # fmt: skip

_GENRES: dict[str, str] = {
    **_entries("comedy", "comedy", "comedies", "funny", "hilarious", "comedi*", "commedi*", "komedi*", "komodi*",
               "divertid*", "divertent*", "engracad*", "drole", "droles", "lustig*", "комеди*", "смешн*", "コメディ",
               "コメディー", "お笑い", "笑える", "喜剧", "喜劇", "搞笑", "코미디", "웃긴", "كوميدي", "كوميدية",
               "كوميديا", "مضحك", "مضحكة", "कॉमेडी", "कोमेडी", "हास्य", "मज़ेदार", "κωμωδι*", "αστει*", "קומדי*",
               "קומדיה", "הומור", "ตลก", "komik", "feel good", "feel-good", "feelgood", "lighthearted", "heartwarming",
               "uplifting", "to laugh", "para reir", "pour rire", "zum lachen", "da ridere", "para sentirse bien",
               "qui font du bien", "qui fait du bien", "gute laune", "gute-laune*", "che fanno stare bene",
               "хорошего настроения", "힐링", "心温まる", "ほっこり", "מצחיק*"),
    **_entries("horror", "horror*", "scary", "creepy", "spooky", "terror", "terrorific*", "terreur", "horreur",
               "epouvante", "grusel*", "orrore", "paura", "medo", "ужас*", "хоррор*", "ホラー", "怖い", "恐怖",
               "鬼片", "공포", "호러", "رعب", "مرعب", "مرعبة", "डरावनी", "डरावना", "हॉरर", "हॉरर", "τρομου",
               "τρομος", "אימה", "ผี", "สยองขวัญ", "korku", "halloween", "scary for halloween", "страшн*", "무서운",
               "хэллоуин", "ハロウィン", "할로윈", "万圣节"),
    **_entries("drama", "drama", "dramas", "drame", "drames", "dramma", "drammi", "dramat*", "dramen", "драма", "драмы",
               "драм", "剧情", "劇情", "دراما", "درامي", "درامية", "ड्रामा", "डरामा", "δραμα", "δραματα", "דרמה",
               "דרמות", "ดราม่า", "dram", "dramlar*", "to cry", "cry", "to cry at", "sad", "tearjerker*", "llorar",
               "pleurer", "weinen", "piangere", "chorar", "泣ける", "催泪", "슬픈", "грустн*", "感人", "感動", "감동",
               "трогательн*"),
    **_entries("romance", "romance", "romances", "romantic", "romantik*", "romantic*", "romantiq*", "romantis*",
               "romanti*", "love story", "love stories", "date night", "мелодрам*", "романтич*", "恋愛", "ラブストーリー",
               "ロマンス", "爱情", "愛情", "浪漫", "로맨스", "로맨틱", "멜로", "رومانسي", "رومانسية", "रोमांस",
               "रोमांटिक", "ρομαντικ*", "רומנטי*", "โรแมนติก", "โรแมนติค"),
    **_entries("action", "action", "accion", "azione", "acao", "akcja", "aksiyon", "боевик*", "экшн", "アクション",
               "动作", "動作", "액션", "أكشن", "اكشن", "एक्शन", "δρασης", "אקשן", "แอ็คชั่น", "แอคชั่น", "action-packed"),
    **_entries("thriller", "thriller*", "suspense", "suspenso", "триллер*", "スリラー", "サスペンス", "惊悚", "驚悚",
               "스릴러", "إثارة", "اثارة", "थ्रिलर", "θριλερ", "מותחן", "מותחנים", "ระทึกขวัญ", "gerilim"),
    **_entries("documentary", "documentar*", "documental*", "documentaire*", "dokumentar*", "dokument*", "docu", "docuseries",
               "docs", "документальн*", "ドキュメンタリー", "纪录片", "紀錄片", "다큐", "다큐멘터리", "وثائقي", "وثائقية",
               "وثائقيات", "डॉक्यूमेंट्री", "डॉकयूमेंटरी", "वृत्तचित्र", "ντοκιμαντερ", "תיעודי", "תיעודיים",
               "สารคดี", "belgesel*"),
    **_entries("animation", "animation", "animated", "cartoon*", "animacion", "animado", "animados", "animadas",
               "dessin anime", "dessins animes", "zeichentrick*", "animationsfilm*", "animazione", "animati",
               "cartoni animati", "cartone animato", "desenhos animados", "desenho animado", "dibujos animados",
               "мультфильм*", "мультик*", "анимаци*", "アニメーション", "动画", "動畫", "애니메이션", "رسوم متحركة",
               "كرتون", "एनिमेटेड", "एनिमेशन", "कार्टून", "κινουμενα σχεδια", "κινουμενων σχεδιων", "אנימציה", "מצויר*",
               "การ์ตูน", "animasyon*", "cizgi film"),
    **_entries("anime", "anime", "animes", "アニメ", "动漫", "動漫", "日漫", "애니", "أنمي", "انمي", "एनीमे",
               "аниме", "אנימה", "อนิเมะ"),
    **_entries("sci-fi", "sci-fi", "science fiction", "scifi", "ciencia ficcion", "science-fiction", "fantascienza",
               "ficcao cientifica", "фантастик*", "научная фантастика", "sf", "sf映画", "科幻", "공상과학",
               "خيال علمي", "विज्ञान कथा", "साइंस फिक्शन", "επιστημονικης φαντασιας", "επιστημονικη φαντασια",
               "מדע בדיוני", "ไซไฟ", "bilim kurgu"),
    **_entries("crime", "crime", "crimes", "policial*", "policiais", "policiac*", "policier*", "krimi*", "crimine", "poliziesc*",
               "криминал*", "犯罪", "범죄", "جريمة", "جرائم", "अपराध", "क्राइम", "αστυνομικ*", "פשע", "อาชญากรรม",
               "suc"),
    **_entries("war", "war", "guerra", "guerre", "krieg*", "wojenn*", "военн*", "о войне", "戦争", "战争", "戰爭",
               "전쟁", "حرب", "حربية", "युद्ध", "πολεμικ*", "מלחמה", "สงคราม", "savas"),
    **_entries("musical", "musical", "musicals", "musicale", "musicais", "comedie musicale", "мюзикл*", "ミュージカル",
               "音乐剧", "歌舞片", "뮤지컬", "موسيقي", "मयूजिकल", "म्यूज़िकल", "मयूजकल", "μιουζικαλ", "מחזמר",
               "มิวสิคัล", "muzikal"),
    **_entries("western", "western", "westerns", "вестерн*", "西部劇", "西部片", "서부극", "웨스턴", "ويسترن",
               "वेस्टर्न", "γουεστερν", "מערבון", "kovboy"),
    **_entries("fantasy", "fantasy", "fantasia", "fantastique", "fantastico", "фэнтези", "ファンタジー", "奇幻", "魔幻",
               "판타지", "فانتازيا", "खयाली", "φαντασιας", "פנטזיה", "แฟนตาซี", "fantastik"),
    **_entries("mystery", "mystery", "mysteries", "misterio", "mystere", "mistero", "mysterium", "детектив*",
               "ミステリー", "悬疑", "懸疑", "미스터리", "غموض", "रहस्य", "μυστηριου", "מסתורין", "ลึกลับ", "gizem"),
    **_entries("adventure", "adventure", "adventures", "aventura", "aventuras", "aventure", "aventures",
               "abenteuer*", "avventura", "приключени*", "冒険", "冒险", "冒險", "모험", "مغامرة", "مغامرات",
               "साहसिक", "एडवेंचर", "περιπετει*", "הרפתקאות", "ผจญภัย", "macera"),
    **_entries("sports", "sport", "sports", "deporte", "deportes", "deportiv*", "esporte", "esportes", "esportiv*",
               "sportif*", "sportfilm*", "sportiv*", "спорт*", "スポーツ", "体育", "運動", "스포츠", "رياضي",
               "رياضة", "रياضية", "खेल", "स्पोर्ट्स", "αθλητικ*", "ספורט", "กีฬา", "spor"),
    **_entries("history", "historical", "historic", "historic*", "historiq*", "historisch*", "storic*",
               "историческ*", "歴史", "历史", "歷史", "역사", "사극", "تاريخي", "تاريخية", "ऐतिहासिक", "ιστορικ*",
               "היסטורי", "ประวัติศาสตร์", "tarihi"),
    **_entries("stand-up", "stand-up", "stand up", "standup", "stand-up comedy", "stand up comedy", "スタンダップ",
               "脱口秀", "스탠드업", "ستاند اب", "स्टैंड-अप", "स्टैंडअप"),
    **_entries("lgbtq", "lgbt", "lgbtq", "lgbtq+", "gay", "queer", "lgbti"),
    **_entries("reality", "reality", "reality show", "reality shows", "realities", "リアリティ", "真人秀", "리얼리티",
               "تلفزيون الواقع", "रियलिटी"),
    **_entries("music", "concert", "concerts", "concierto", "konzert", "концерт*"),
}  # fmt: skip

_COUNTRIES: dict[str, str] = {
    **_entries("France", "french", "france", "frances", "francesa", "franceses", "francesas", "francais*",
               "franzosisch*", "frankreich", "francese", "francesi", "francus*", "frances*", "французск*",
               "франци*", "フランス", "法国", "法國", "프랑스", "فرنسي", "فرنسية", "فرنسا", "फ्रेंच", "फ्रांसीसी",
               "फरांसीसी", "फरेंच", "γαλλικ*", "צרפתי*", "ฝรั่งเศส", "fransiz*"),
    **_entries("South Korea", "korean", "korea", "south korean", "k-drama", "kdrama", "k-dramas", "corean*", "coree",
               "coreen*", "koreanisch*", "korea", "koreansk*", "корейск*", "корея", "韓国", "韓國", "韩国", "韩剧",
               "한국", "كوري", "كورية", "كوريا", "कोरियाई", "कोरियन", "κορεατικ*", "קוריאני*", "เกาหลี", "kore"),
    **_entries("Japan", "japanese", "japan", "japon*", "japanisch*", "giappones*", "япон*", "日本", "日剧", "일본",
               "ياباني", "يابانية", "اليابان", "जापानी", "ιαπωνικ*", "יפני*", "ญี่ปุ่น"),
    **_entries("India", "indian", "india", "bollywood", "tollywood", "kollywood", "indio", "indios", "hindi",
               "indien", "indienne", "indiens", "indiennes", "indisch*", "indiano", "indiane", "indiani",
               "indiu", "индийск*", "индия", "болливуд*", "インド", "印度", "宝莱坞", "인도", "هندي", "هندية", "الهند",
               "بوليوود", "बॉलीवुड", "भारतीय", "हिंदी", "ινδικ*", "הודי*", "בוליווד", "อินเดีย", "hint"),
    **_entries("Spain", "spanish", "spain", "espanol*", "espanha", "espanhol*", "espagnol*", "espagne", "spanisch*",
               "spagnol*", "испанск*", "スペイン", "西班牙", "스페인", "إسباني", "إسبانية", "اسباني", "स्पेनिश",
               "स्पेनिश", "ισπανικ*", "ספרדי*", "สเปน", "ispanyol"),
    **_entries("Germany", "german", "germany", "aleman*", "allemand*", "deutsch*", "tedesc*", "alema*",
               "niemieck*", "немецк*", "германи*", "ドイツ", "德国", "德國", "독일", "ألماني", "ألمانية", "الماني",
               "जर्मन", "γερμανικ*", "גרמני*", "เยอรมัน", "alman"),
    **_entries("Italy", "italian", "italy", "italian*", "italien*", "italia", "italie", "italiens", "włosk*",
               "итальянск*", "イタリア", "意大利", "義大利", "이탈리아", "إيطالي", "إيطالية", "ايطالي", "इतालवी",
               "ιταλικ*", "איטלקי*", "อิตาลี", "italyan"),
    **_entries("Turkey", "turkish", "turkey", "turkiye", "turco", "turca", "turcos", "turcas", "turc", "turque",
               "turques", "turkisch*", "турецк*", "турци*", "トルコ", "土耳其", "터키", "튀르키예", "تركي", "تركية",
               "التركية", "تركيا", "तुर्की", "τουρκικ*", "טורקי*", "ตุรกี", "turk"),
    **_entries("Mexico", "mexican", "mexico", "mexican*", "mexicain*", "mexikanisch*", "messican*", "мексиканск*",
               "мексик*", "メキシコ", "墨西哥", "멕시코", "مكسيكي", "مكسيكية", "मैक्सिकन", "μεξικανικ*", "מקסיקני*",
               "meksika*"),
    **_entries("United Kingdom", "british", "uk", "britain", "england", "english film", "britanic*", "britannique*",
               "britisch*", "britannic*", "ingles", "inglesa", "ingleses", "inglesas", "anglais*", "britanico",
               "британск*", "английск*", "イギリス", "英国", "英國", "英剧", "영국", "بريطاني", "بريطانية", "ब्रिटिश",
               "βρετανικ*", "בריטי*", "อังกฤษ", "ingiliz"),
    **_entries("United States", "american", "americans", "hollywood", "usa", "estadounidense*",
               "norteamerican*", "americain*", "amerikanisch*", "american*", "американск*", "アメリカ", "ハリウッド",
               "美国", "美國", "好莱坞", "미국", "할리우드", "أمريكي", "أمريكية", "امريكي", "هوليوود", "अमेरिकी",
               "अमेरिकन", "हॉलीवुड", "αμερικανικ*", "אמריקאי*", "הוליוודי*", "อเมริกัน", "ฮอลลีวูด", "amerikan"),
    **_entries("Egypt", "egyptian", "egypt", "egipci*", "egypcio*", "egyptien*", "agyptisch*", "egizian*",
               "египетск*", "エジプト", "埃及", "이집트", "مصري", "مصرية", "مصر", "मिस्र", "मिस्री", "αιγυπτιακ*",
               "מצרי*", "อียิปต์", "mısır"),
    **_entries("China", "chinese", "china", "chino", "china", "chinos", "chinas", "chines", "chinesa", "chinois*",
               "chinesisch*", "cines*", "chiński", "китайск*", "китай", "中国", "中國", "国产", "华语", "중국",
               "صيني", "صينية", "الصين", "चीनी", "κινεζικ*", "סיני*", "จีน", "cin"),
    **_entries("Thailand", "thai", "thailand", "tailandes*", "thailandais*", "thailandisch*", "thailandes*",
               "тайск*", "タイ映画", "タイの", "泰国", "泰國", "태국", "تايلاندي", "थाई", "ταϊλανδεζικ*", "תאילנדי*",
               "ไทย", "tayland"),
    **_entries("Nigeria", "nigerian", "nollywood", "nigeria", "nigerian*", "nigerien*", "nigerianisch*",
               "нигерийск*", "ナイジェリア", "尼日利亚", "나이지리아", "نيجيري", "नाइजीरियाई", "nijerya*"),
    **_entries("Brazil", "brazilian", "brazil", "brasil", "brasileir*", "brasilen*", "bresilien*", "brasilian*",
               "brasiliani*", "бразильск*", "ブラジル", "巴西", "브라질", "برازيلي", "برازيلية", "ब्राज़ीली",
               "ब्राजील", "βραζιλιανικ*", "ברזילאי*", "บราซิล", "brezilya*"),
    **_entries("Russia", "russian", "russia", "ruso", "rusa", "rusos", "rusas", "russe", "russes", "russo", "russa",
               "russi", "russisch*", "russland", "российск*", "русск*", "россия", "ロシア", "俄罗斯", "俄國", "俄羅斯",
               "러시아", "روسي", "روسية", "रूसी", "ρωσικ*", "רוסי*", "รัสเซีย", "rus"),
    **_entries("Israel", "israeli", "israel", "israeli*", "israel*", "израильск*", "イスラエル", "以色列", "이스라엘",
               "إسرائيلي", "इज़राइली", "ισραηλιν*", "ישראלי*", "ישראל", "อิสราเอล", "israil*"),
    **_entries("Indonesia", "indonesian", "indonesia", "indonesi*", "indonesisch*", "индонезийск*", "インドネシア",
               "印尼", "印度尼西亚", "인도네시아", "إندونيسي", "इंडोनेशियाई", "ινδονησιακ*", "אינדונזי*",
               "อินโดนีเซีย", "endonezya*"),
    **_entries("Canada", "canadian", "canada", "canadiens*", "canadien*", "kanadisch*", "canades*", "canadese",
               "канадск*", "カナダ", "加拿大", "캐나다", "كندي", "कनाडाई", "καναδικ*", "קנדי*", "kanada*"),
    **_entries("Australia", "australian", "australia", "australian*", "australien*", "australisch*",
               "австралийск*", "オーストラリア", "澳大利亚", "호주", "أسترالي", "ऑस्ट्रेलियाई", "αυστραλιαν*",
               "אוסטרלי*", "avustralya*"),
    **_entries("Hong Kong", "hong kong", "hongkong*", "香港", "港片", "홍콩", "هونغ كونغ"),
    **_entries("Taiwan", "taiwanese", "taiwan", "taiwanes*", "taiwanais*", "тайваньск*", "台湾", "台灣", "대만",
               "تايواني"),
    **_entries("Argentina", "argentine", "argentinian", "argentin*", "аргентинск*", "アルゼンチン", "阿根廷", "아르헨티나"),
    **_entries("Philippines", "filipino", "philippine", "philippines", "filipin*", "philippin*", "フィリピン", "菲律宾",
               "필리핀", "فلبيني"),
    # no "belg*" stem: Turkish "belgesel" (documentary) starts with it
    **_entries("Belgium", "belgian", "belgians", "belgium", "belge", "belges", "belga", "belgas", "belgi", "belgio",
               "belgien", "belgisch*", "belgijsk*", "belcika*", "бельгийск*"),
    **_entries("Ireland", "irish", "ireland", "irland*", "irlandes*", "ирландск*"),
    **_entries("South Africa", "south african", "south africa", "sudafrican*", "sud-africain*", "sudafrikanisch*"),
    **_entries("Netherlands", "dutch", "netherlands", "holland*", "neerland*", "niederlandisch*", "olandes*",
               "голландск*", "нидерландск*"),
    **_entries("Denmark", "danish", "denmark", "danes*", "danois*", "danisch*", "dinamarqu*", "датск*"),
    **_entries("Sweden", "swedish", "sweden", "suec*", "suedois*", "schwedisch*", "svedes*", "шведск*"),
    **_entries("Norway", "norwegian", "norway", "norueg*", "norvegien*", "norwegisch*", "норвежск*"),
    **_entries("Poland", "polish", "poland", "polac*", "polones*", "polonais*", "polnisch*", "polsk*", "польск*"),
    **_entries("Colombia", "colombian", "colombia", "colombian*", "kolumbianisch*", "колумбийск*"),
    **_entries("Lebanon", "lebanese", "lebanon", "liban*", "libanes*", "لبناني", "لبنانية"),
    **_entries("Saudi Arabia", "saudi", "سعودي", "سعودية"),
    **_entries("Greece", "greek", "griego", "grec", "grecque", "griechisch*", "greco", "греческ*", "ελληνικ*"),
    **_entries("Singapore", "singaporean", "singapore"),
    **_entries("Malaysia", "malaysian", "malaysia"),
    **_entries("Pakistan", "pakistani", "pakistan", "پاکستانی", "باكستاني", "पाकिस्तानी"),
}  # fmt: skip

_AUDIENCE: dict[str, str] = _entries(
    "older_kids", "for kids", "for children", "kids", "kid", "children", "childrens", "children's", "para ninos",
    "infantil*", "pour enfants", "pour les enfants", "fur kinder", "kinderfilm*", "per bambini", "dla dzieci",
    "para criancas", "для детей", "детск*", "子供向け", "子ども向け", "子供用", "キッズ", "儿童", "兒童", "少儿", "适合孩子",
    "适合儿童", "给孩子", "어린이", "아이들", "아이들을 위한", "아이를 위한", "어린이를 위한", "어린이용", "للأطفال", "اطفال",
    "أطفال", "बच्चों", "बच्चों के लिए", "για παιδια", "παιδικ*", "לילדים",
    "สำหรับเด็ก", "เด็ก", "cocuklar icin", "cocuk*",
)  # fmt: skip
_FAMILY: dict[str, str] = _entries(
    "older_kids", "family-friendly", "family friendly", "for the family", "for the whole family", "familiar",
    "familiares", "para toda la familia", "para la familia", "pour toute la famille", "en famille", "familial*",
    "fur die ganze familie", "familienfilm*", "per tutta la famiglia", "per famiglie", "para toda a familia",
    "семейн*", "ファミリー向け", "家族向け", "合家欢", "가족영화", "عائلي", "عائلية", "पारिवारिक",
    "οικογενειακ*", "משפחתי*", "หนังครอบครัว", "aile filmi", "aile filmleri",
)  # fmt: skip
"""Family audience words that are adjectives or set phrases: the nouns ("familia", "family") are plot
words as often ("a family moves into..."); bare "family" counts only before a type or genre word."""
_FAMILY_NOUNS = frozenset(fold(w) for w in ("family", "가족"))
"""Bare family nouns that read as an audience before a type or genre word ("family movies", "가족 영화")."""
_FAMILY_GENRES = frozenset({"adventure", "animation", "children", "comedy", "family", "fantasy", "musical", "music"})
"""Genres after which bare "family" reads as an audience ("family comedy"); before the others it names the
story's subject: a family drama or thriller is about a family ("mafia family drama": The Godfather)."""

_STOPWORDS = frozenset(fold(w) for w in (  # noqa: SIM905
    "the a an of from with by starring about in on and or some something any anything best top good great new old me "
    "show find watch i want to "
    "de del la las el los lo un una unos unas y o con en sobre para algo mejores mejor buenas buenos buen "
    "des du le les et au aux sur une avec par pour meilleurs meilleures bons bonnes "
    "der die das den dem des aus von mit und ein eine einen uber etwas gute beste besten "
    "di dei degli delle della del il lo gli i e con su qualcosa migliori belle "
    "da do dos das o os as um uma com melhores bons boas "
    "и с со в во про о об для от из на по к у лучшие хорошие самые годов годы годах "
    "の な おすすめ 的 部 推荐 好看 一些 에 의 추천 좋은 "
    "من في عن أفضل افضل "
    "के की का में से और बेहतरीन अच्छी "
    "ve en iyi bir "
    "แนว เรื่อง ที่ สุด "
    "της του των και με τον την το τα για σε στο στη στην στον στα στις στους απο "
    "של עם הכי "
    # "the works of": a filmography asks for the set of a person's titles, whatever the language
    "filmography filmografia filmografía filmographie filmografie фильмография φιλμογραφία 작품 作品 ผลงาน أعمال"
).split())  # fmt: skip

_DECADE_WORDS = {
    "sixties": 1960, "seventies": 1970, "eighties": 1980, "nineties": 1990,
    "sesenta": 1960, "setenta": 1970, "ochenta": 1980, "noventa": 1990, "oitenta": 1980,
    "sechziger": 1960, "siebziger": 1970, "achtziger": 1980, "neunziger": 1990,
    "sessanta": 1960, "settanta": 1970, "ottanta": 1980, "novanta": 1990,
    "шестидесятых": 1960, "семидесятых": 1970, "восьмидесятых": 1980, "девяностых": 1990,
    "六十年代": 1960, "七十年代": 1970, "八十年代": 1980, "九十年代": 1990,
    "الستينات": 1960, "السبعينات": 1970, "الثمانينات": 1980, "التسعينات": 1990, "التسعينيات": 1990,
    "الثمانينيات": 1980,
}  # fmt: skip


_DECADE_STARTS = {fold(word): start for word, start in _DECADE_WORDS.items()}


def _folded_alternation(words: list[str]) -> str:
    return "|".join(re.escape(fold(w)) for w in sorted(words, key=len, reverse=True))


_DECADE_SUFFIX = _folded_alternation(["s", "'s", "’s", "er", "ern", "er jahre", "er-jahre", "年代", "년대", "'lar",
                                      "'ler", "lar", "ler", "'ların", "'lerin", "ların", "lerin", "'lardan", "'lerden",
                                      "'li yillar", "li yillar", "-х", "-е", "х", "е",
                                      "के दशक", "का दशक", "दशक", "η δεκαετια"])  # fmt: skip
_DECADE_PREFIX_WORDS = _folded_alternation(["anos", "annees", "anni", "lata", "годов", "годы", "годах", "decada de",
                                            "década de los", "years", "de los", "dos anos", "δεκαετια του",
                                            "δεκαετιας του", "שנות ה", "משנות ה", "בשנות ה",
                                            "عقد", "سنوات ال", "الـ"])  # fmt: skip
_YEAR_RE = r"((?:19|20)\d\d)"
_DECADE = re.compile(rf"(?<![\d\w])(?:(19|20)?([0-9])0)\s*(?:{_DECADE_SUFFIX})(?!\w)")
_DECADE_PREFIX = re.compile(rf"(?<!\w)(?:{_DECADE_PREFIX_WORDS})(?:\s+|\s*[-\u05be]\s*|(?<=ה))['’]?(?:(19|20))?([0-9])0(?!\d)")
_DECADE_GLUED = re.compile(rf"(?<!\d)(?:(19|20)?([0-9])0)\s*(?:{_folded_alternation(['年代', '년대'])})")
"""A decade in a script written without spaces: nothing needs to end it ("90年代のフランス映画", "90년대의")."""
_BETWEEN = re.compile(rf"(?<!\w)(?:between|entre|zwischen|tra il|tra|от|между|بين|से)?\s*{_YEAR_RE}\s*"
                      rf"(?:-|–|to|and|y|a|et|und|bis|e|до|и|و|से|~|〜|到|至)\s*{_YEAR_RE}(?!\d)")
_BEFORE_WORDS = _folded_alternation(["以前", "之前", "이전", "قبل", "से पहले", "öncesi", "den önce", "πριν το", "לפני"])
_BEFORE_AFTER_YEAR = _folded_alternation(["年以前", "年之前", "以前", "之前", "년 이전", "년이전", "से पहले", "öncesi",
                                          "den önce", "'den önce"])
_AFTER_WORDS = _folded_alternation(["以降", "之后", "以后", "이후", "بعد", "के बाद", "sonrası", "μετα το", "אחרי"])
_AFTER_AFTER_YEAR = _folded_alternation(["年以降", "年以后", "年之后", "以降", "以后", "之后", "년 이후", "년이후", "के बाद",
                                         "sonrası", "'den sonra"])
_BEFORE = re.compile(rf"(?<!\w)(?:before|prior to|antes de|antes del|avant|vor|prima del|prima de|przed|до|раньше|"
                     rf"{_BEFORE_WORDS})\s*{_YEAR_RE}|{_YEAR_RE}\s*(?:{_BEFORE_AFTER_YEAR})")
_AFTER = re.compile(rf"(?<!\w)(?:after|since|despues de|desde|apres|depuis|nach|seit|dopo il|dopo|depois de|po|после|с|"
                    rf"{_AFTER_WORDS})\s*{_YEAR_RE}|{_YEAR_RE}\s*(?:{_AFTER_AFTER_YEAR})")
_YEAR = re.compile(rf"(?<!\d){_YEAR_RE}(?!\d)")
_DECADE_WORD = re.compile(rf"(?<!\w)(?:{_folded_alternation(list(_DECADE_WORDS))})(?!\w)|"
                          rf"{_folded_alternation([w for w in _DECADE_WORDS if re.search(r'[一-龥]', w)])}")
_RECENT: dict[str, str] = _entries(
    "recent", "recent", "newest", "latest", "recientes", "reciente", "nuevas", "nuevos", "nuevo", "nueva",
    "recents", "recentes", "nouveaux", "nouvelles", "neue", "neuen", "neueste", "recenti", "nuovi", "nuove",
    "novos", "novas", "новые", "новинки", "свежие", "最近", "最新", "新作", "新しい", "최신", "최근", "حديثة",
    "جديدة", "नई", "नए", "νεες", "חדשים", "חדשות", "ใหม่", "yeni",
)  # fmt: skip
OLD_BEFORE = 1980
"""A classic, vintage or black-and-white title is one from before this year (a soft constraint, ``-1979``)."""
_CLASSIC: dict[str, str] = _entries(
    "classic", "classic", "classics", "vintage", "black and white", "black & white", "clasic*", "classiq*",
    "klassik*", "classici", "classiche", "classicos", "classicas", "классическ*", "名作", "クラシック", "고전",
    "经典", "經典", "كلاسيكي", "كلاسيكية", "क्लासिक", "κλασικ*", "קלאסי", "קלאסיים", "קלאסיות", "คลาสสิก",
    "klasik", "blanco y negro", "noir et blanc", "schwarzweiss", "schwarz-weiss", "bianco e nero", "preto e branco",
    "черно-бел*", "白黒", "흑백", "黑白", "ασπρομαυρ*", "ขาวดำ", "siyah beyaz",
)  # fmt: skip
_OLD: dict[str, str] = _entries(
    "classic", "old", "older", "oldies", "antigu*", "viej*", "vieux", "vieilles", "anciens", "anciennes", "alte",
    "alten", "vecchi", "vecchie", "velhos", "velhas", "старые", "старых", "старое", "古い", "昔の", "옛날", "오래된",
    "قديمة", "قديم", "पुरानी", "पुराने", "παλιες", "παλια", "ישנים", "ישנות", "eski",
)  # fmt: skip
"""Words that mean "old" only next to a type word ("old movies", "películas antiguas", "古い映画"): alone
they are title words (Old Boy, The Old Guard, No Country for Old Men)."""
_GLUED = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\u1100-\u11ff\u3130-\u318f\u0e00-\u0e7f]")
_ARABIC = re.compile(r"[\u0600-\u06ff]")
_ELIDED = re.compile(r"(?:d|l|dell|dall|nell|all|sull|qu)['’]")
"""A French or Italian elided article glued to the next word."""


_HEAD = 3
"""Stems are bucketed by their first characters (every stem has at least this many)."""


class _Table:
    """A phrase table folded once: word n-grams looked up in a dict, stems by prefix, and one-word phrases
    of glued scripts (CJK, kana, Hangul, Thai) by substring."""

    def __init__(self, table: Mapping[str, str]) -> None:
        self.words: dict[str, str] = {}
        self.stems: list[tuple[str, str]] = []
        self.glued: list[tuple[str, str]] = []
        for phrase, value in table.items():
            stem = phrase.endswith("*")
            key = " ".join(fold(phrase.rstrip("*")).split())
            if _GLUED.search(key) and " " not in key:  # a spaced phrase ("아이들을 위한") is looked up by words
                self.glued.append((key, value))
            elif stem:
                self.stems.append((key, value))
            else:
                self.words.setdefault(key, value)
        self.glued.sort(key=lambda item: -len(item[0]))
        self.stems.sort(key=lambda item: -len(item[0]))
        self.longest = max((len(k.split()) for k in self.words), default=1)
        self._stems_by_head: dict[str, list[tuple[str, str]]] = {}
        for stem_key, stem_value in self.stems:  # longest first within each bucket, like the list
            self._stems_by_head.setdefault(stem_key[:_HEAD], []).append((stem_key, stem_value))

    def lookup(self, word: str) -> str | None:
        """The value of one whole word (exact, without an Arabic article or "و", or by stem)."""
        if word in self.words:
            return self.words[word]
        if _ARABIC.match(word):
            for prefix in ("ال", "وال", "و", "بال", "لل"):
                if word.startswith(prefix) and word[len(prefix):] in self.words:
                    return self.words[word[len(prefix):]]
        for stem, value in self._stems_by_head.get(word[:_HEAD], ()):
            if word.startswith(stem) and " " not in stem:
                return value
        elided = _ELIDED.match(word)  # "d'horreur", "d'azione", "l'animazione": the word after the article
        if elided and len(word) > elided.end():
            return self.lookup(word[elided.end():])
        return None

    def find(self, words: list[str], taken: list[bool]) -> list[tuple[str, str]]:
        """``(value, source)`` of the longest free phrases; marks their words (or word parts) taken."""
        found = []
        for n in range(min(self.longest, len(words)), 1, -1):
            for i in range(len(words) - n + 1):
                if any(taken[i : i + n]):
                    continue
                key = " ".join(words[i : i + n])
                if key in self.words:
                    found.append((self.words[key], key))
                    for j in range(i, i + n):
                        taken[j] = True
        for i, word in enumerate(words):
            if not taken[i] and (value := self.lookup(word)) is not None:
                found.append((value, word))
                taken[i] = True
        glued = [i for i, word in enumerate(words) if not taken[i] and _GLUED.search(word)]
        for key, value in self.glued if glued else ():
            for i in glued:
                word = words[i]
                if not taken[i] and key in word:
                    found.append((value, key))
                    words[i] = " ".join(word.replace(key, " ").split())
                    if not words[i]:
                        taken[i] = True
                    break
        return found


_SERIES_DRAMA = frozenset({"South Korea", "Japan", "China", "Taiwan", "Thailand", "Turkey"})
"""Countries whose "dramas" are television series (K-dramas, J-dramas, Turkish dizi)."""

_COMPOUND_HEADS = {"filme": "movie", "filmen": "movie", "films": "movie", "film": "movie", "serien": "show",
                   "serie": "show", "komodien": None, "komodie": None}  # fmt: skip
"""German (and Dutch, Scandinavian) compounds: "Kriegsfilme" = "Krieg(s)" + "filme"."""

_TABLES = {"audience": _Table(_AUDIENCE), "family": _Table(_FAMILY), "country": _Table(_COUNTRIES),
           "genre": _Table(_GENRES), "type": _Table(_TYPES), "recent": _Table(_RECENT),
           "classic": _Table(_CLASSIC), "old": _Table(_OLD),
           "old glued": _Table({k: v for k, v in _OLD.items() if _GLUED.search(k)})}  # fmt: skip

_LIKE = ["movies like", "films like", "shows like", "series like", "something like", "anything like", "similar to",
         "like", "peliculas como", "peliculas parecidas a", "parecidas a", "parecidos a", "parecida a",
         "similares a", "series como", "como", "films comme", "series comme", "dans le style de", "comme",
         "filme wie", "serien wie", "ahnlich wie", "ahnliche filme wie", "wie", "film come", "simili a", "come",
         "filmes como", "filmes parecidos com", "parecidos com", "semelhantes a", "tipo", "похожие на", "похожий на",
         "фильмы как", "как", "のような", "みたいな", "っぽい", "に似た", "类似", "像", "같은", "비슷한", "مثل",
         "تشبه", "يشبه", "जैसी", "जैसे", "जैसा", "σαν το", "σαν", "οπως", "כמו", "benzeri", "gibi", "เหมือน"]  # fmt: skip
def _soft_fold(text: str) -> str:
    """Case- and width-folded text that keeps accents, kana voicing marks and composed Hangul
    (``インセプション`` stays as typed, for looking the title up; :func:`fold` makes it ``インセフション``)."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _both(words: Iterable[str]) -> set[str]:
    return {fold(w) for w in words} | {_soft_fold(w) for w in words}


_POSTFIX_LIKE = _both(("のような", "みたいな", "っぽい", "に似た", "같은", "비슷한", "जैसी", "जैसे", "जैसा",
                                   "benzeri", "gibi"))  # fmt: skip
def _phrases(phrases: Iterable[str]) -> list[tuple[str, re.Pattern[str] | None]]:
    """Each phrase with its word-boundary pattern (``None`` for glued scripts: found anywhere)."""
    return [(p, None if _GLUED.search(p) else re.compile(rf"(?<!\w){re.escape(p)}(?!\w)")) for p in phrases]


_LIKE_FOLDED = _phrases(" ".join(fold(p).split()) for p in _LIKE)
_LIKE_SOFT = _phrases(_soft_fold(p) for p in _LIKE if not p.isascii())
_BARE_LIKE = _both(("like", "como", "comme", "wie", "come", "как", "tipo", "σαν", "οπως", "όπως", "כמו", "مثل", "像"))
_LIKE_HEADS = _both(("movies", "films", "shows", "series", "peliculas", "pelicula", "pelis", "film",
                                 "filmes", "filme", "something", "anything", "serien", "фильмы", "сериалы", "ταινιες",
                                 "סרטים", "أفلام", "افلام", "مسلسلات", "电影", "一些", "有没有", "hay", "algo",
                                 "quelque chose", "etwas", "qualcosa"))  # fmt: skip
_LIKE_TRAILERS = sorted(_both(("一样的电影", "一样的", "的电影", "的电视剧", "的", "一样", "영화", "드라마", "映画",
                                    "ドラマ", "アニメ")), key=len, reverse=True)  # fmt: skip


def _strip_like_title(title: str) -> str:
    for trailer in _LIKE_TRAILERS:
        if title.endswith(trailer) and len(title) > len(trailer):
            return title[: -len(trailer)].strip()
    return title


_NUMBER_WORDS = {"an": 1, "a": 1, "one": 1, "una": 1, "une": 1, "einer": 1, "uma": 1, "two": 2, "dos": 2, "deux": 2,
                 "zwei": 2, "due": 2, "duas": 2, "three": 3, "tres": 3, "trois": 3, "drei": 3, "tre": 3}  # fmt: skip
"""Numbers written as words, read only before an hour unit ("under an hour", "moins de deux heures")."""
_RUNTIME_NUMBER = rf"(\d{{1,3}}(?:[.,]\d{{1,2}})?|(?<!\w)(?:{'|'.join(sorted(_NUMBER_WORDS, key=len, reverse=True))})(?!\w))"
_MINUTE_UNITS = ["min", "mins", "minute", "minutes", "minuto", "minutos", "minuten", "minuti", "minut", "minuty",
                 "минут", "минуты", "минуту", "мин", "λεπτα", "λεπτων", "λεπτο", "דקות", "דקה", "دقيقة", "دقائق",
                 "मिनट", "dakika", "dakikadan", "dk", "分", "分钟", "分鐘", "분", "นาที"]  # fmt: skip
_HOUR_UNITS = ["h", "hr", "hrs", "hour", "hours", "hora", "horas", "heure", "heures", "stunde", "stunden", "ora", "ore",
               "час", "часа", "часов", "ωρα", "ωρες", "ωρων", "שעה", "שעות", "ساعة", "ساعات", "घंटे", "घंटा", "saat",
               "saatten", "時間", "小时", "小時", "시간", "ชั่วโมง"]  # fmt: skip
_AT_MOST_BEFORE = ["under", "less than", "shorter than", "below", "at most", "up to", "no more than", "no longer than",
                   "not more than", "within", "max", "maximum", "menos de", "de menos de", "moins de", "de moins de",
                   "unter", "weniger als", "kurzer als", "hochstens", "bis zu", "meno di", "sotto i", "sotto", "entro",
                   "ate", "меньше", "короче", "не больше", "не более", "до", "κατω απο", "λιγοτερο απο", "εως",
                   "פחות מ", "מתחת ל", "עד", "أقل من", "اقل من", "ไม่เกิน", "น้อยกว่า", "不超过", "少于", "不到", "最多"]  # fmt: skip
_AT_MOST_AFTER = ["以内", "以下", "未満", "이내", "이하", "미만", "से कम", "kisa", "kısa", "az"]
_AT_LEAST_BEFORE = ["over", "more than", "longer than", "at least", "above", "mas de", "plus de", "de plus de", "uber",
                    "mehr als", "langer als", "mindestens", "piu di", "oltre", "mais de", "pelo menos", "больше",
                    "длиннее", "дольше", "более", "πανω απο", "περισσοτερο απο", "יותר מ", "أكثر من", "اكثر من",
                    "มากกว่า", "เกิน", "超过", "多于", "至少"]  # fmt: skip
_AT_LEAST_AFTER = ["以上", "이상", "से ज्यादा", "से अधिक", "uzun", "fazla"]
"""Words after the unit are those of languages that put them there; "90 minutes or less" is not read: it is
how a viewer types the title 30 Minutes or Less, which a filter of at most 30 minutes would hide."""


def _runtime_pattern(before: list[str], after: list[str]) -> re.Pattern[str]:
    """A bound: a word before the number ("under 90 min") or after its unit ("90分以内"); spaced-script
    words and units sit on word boundaries, glued-script ones anywhere ("หนังไม่เกิน90นาที")."""

    def words_of(words: list[str], end: str) -> str:  # ``end``: what must follow a spaced-script word
        spaced = [w for w in words if not _GLUED.search(w)]
        glued = [w for w in words if _GLUED.search(w)]
        return "|".join(([rf"(?<!\w)(?:{_folded_alternation(spaced)}){end}"] if spaced else [])
                        + ([f"(?:{_folded_alternation(glued)})"] if glued else []))  # fmt: skip

    units, opening, closing = (words_of(_MINUTE_UNITS + _HOUR_UNITS, r"(?!\w)"), words_of(before, ""),
                               words_of(after, r"(?!\w)"))  # fmt: skip
    return re.compile(rf"(?:{opening})\s*[-\u05be]?\s*{_RUNTIME_NUMBER}\s*(?P<unit>{units})"
                      rf"|(?<![\d.,]){_RUNTIME_NUMBER}\s*(?P<unit2>{units})\s*(?:{closing})")  # fmt: skip


_AT_MOST = _runtime_pattern(_AT_MOST_BEFORE, _AT_MOST_AFTER)
_AT_LEAST = _runtime_pattern(_AT_LEAST_BEFORE, _AT_LEAST_AFTER)
_HOURS = frozenset(fold(u) for u in _HOUR_UNITS)


def _take_runtime(text: str, out: list[Constraint]) -> str:
    """A running time bound ("under 90 minutes", "2시간 이상") out of ``text``; returns what is left. A bound
    outside :data:`search.request.RUNTIME_MIN` .. :data:`search.request.RUNTIME_MAX` minutes is no bound."""
    for regex, at_most in ((_AT_MOST, True), (_AT_LEAST, False)):
        match = regex.search(text)
        if match is None:
            continue
        number = match.group(1) or match.group(3)
        unit = match.group("unit") or match.group("unit2")
        if number in _NUMBER_WORDS and unit not in _HOURS:  # "under a minute" is no running time anyone asks for
            continue
        value = _NUMBER_WORDS[number] if number in _NUMBER_WORDS else float(number.replace(",", "."))
        minutes = round(value * (60 if unit in _HOURS else 1))
        if RUNTIME_MIN <= minutes <= RUNTIME_MAX:
            out.append(Constraint("runtime", f"-{minutes}" if at_most else f"{minutes}-", match.group(0).strip(), "filter"))
            return text[: match.start()] + " " + text[match.end():]
    return text


def _take_years(text: str, out: list[Constraint]) -> str:
    """Year constraints (a range, a bound, a decade, a year) out of ``text``; returns what is left."""
    match = _BETWEEN.search(text)
    if match and int(match.group(1)) <= int(match.group(2)):
        out.append(Constraint("years", f"{match.group(1)}-{match.group(2)}", match.group(0).strip(), "filter"))
        return text[: match.start()] + " " + text[match.end():]
    for regex, which in ((_BEFORE, "max"), (_AFTER, "min")):
        match = regex.search(text)
        if match:
            year = int(match.group(1) or match.group(2))
            value = f"-{year - 1}" if which == "max" else f"{year}-"
            out.append(Constraint("years", value, match.group(0).strip(), "filter"))
            text = text[: match.start()] + " " + text[match.end():]
    if any(c.kind == "years" for c in out):
        return text
    for regex in (_DECADE_PREFIX, _DECADE, _DECADE_GLUED):
        match = regex.search(text)
        if match:
            century = match.group(1) or ("20" if match.group(2) in "012" else "19")
            start = int(century + match.group(2) + "0")
            out.append(Constraint("years", f"{start}-{start + 9}", match.group(0).strip(), "boost"))
            return text[: match.start()] + " " + text[match.end():]
    match = _DECADE_WORD.search(text)
    if match:
        start = _DECADE_STARTS[match.group(0)]
        out.append(Constraint("years", f"{start}-{start + 9}", match.group(0), "boost"))
        return text[: match.start()] + " " + text[match.end():]
    match = _YEAR.search(text)
    if match and len(text.split()) > 1:
        out.append(Constraint("years", f"{match.group(1)}-{match.group(1)}", match.group(0), "boost"))
        return text[: match.start()] + " " + text[match.end():]
    return text


_SETTING_BEFORE = frozenset({
    "in", "in the", "during", "during the", "set in", "set in the", "dans", "dans les", "pendant", "pendant les",
    "en", "en los", "en las", "durante", "durante los", "nos", "nas", "na", "em", "negli", "nei", "in den",
    "w", "w latach", "в", "во", "στη", "στα", "στην", "στις", "בשנות", "في", "فى", "में",
})  # fmt: skip
"""Folded words before a decade that make it the time a story is set in ("a heist in the 1920s", "dans les
années 60", "nos anos 60", "in den 80ern"), as opposed to when the title came out ("90s french comedy",
"películas de los 80")."""


_FOR = frozenset({"for", "para", "pour", "fur", "per", "dla", "для", "για"})
"""Words for "for" that make the audience word one or two words later a request ("shows for little kids")."""
_FOR_WHOM = frozenset(fold(w) for w in ("子供向け", "子ども向け", "子供用", "适合孩子", "适合儿童", "给孩子", "للأطفال",
                                          "לילדים", "สำหรับเด็ก"))
"""One-word audience entries that say "for children" themselves (the others are plain nouns or adjectives)."""


def _names_an_audience(source: str, words: list[str]) -> bool:
    """Whether the audience words ``source`` ask for titles made for children: a phrase ("for kids", "para
    niños", 子供向け), or a bare word ("kids", "infantiles", 儿童, เด็ก) that is the whole query or sits next to a
    type or genre word ("kids movies", "películas infantiles", "儿童电影", "หนังเด็ก"). Otherwise it is part of
    what the title is about: "deadly versions of kids games", "juegos infantiles", 儿童游戏 (Squid Game),
    เด็กใหม่ ("the new kid", Girl from Nowhere)."""
    if " " in source or source in _FOR_WHOM or words == [source]:
        return True
    at = next((i for i, w in enumerate(words) if source in w), None)
    if at is None or any(w in _FOR for w in words[max(0, at - 2):at]):  # "for (little) kids"
        return True
    glued = words[at].replace(source, "", 1)
    near = [glued] if glued else [words[j] for j in (at - 1, at + 1) if 0 <= j < len(words)]  # glued: what to
    return any(_TABLES[kind].find([w], [False]) for w in near for kind in ("type", "genre"))


_AGE_BEFORE = frozenset({"as", "as a", "was", "was a", "were", "i was a", "we were", "since i was a"})
"""Folded words before "kid(s)", "child" that make it the viewer's age when they watched ("a movie I saw as
a kid", "when I was a child"), not the audience asked for."""


def _is_viewers_age(source: str, text: str) -> bool:
    """Whether the audience word ``source`` in the folded ``text`` follows one of :data:`_AGE_BEFORE`."""
    index = text.find(source)
    before = text[:index].split() if index > 0 else []
    return any(" ".join(before[-n:]) in _AGE_BEFORE for n in (1, 2, 3) if len(before) >= n)


SETTING_MAX_WORDS = 16
"""Only a query of at most this many words reads a decade after "in" as the story's setting: in a long
tip-of-the-tongue post it is mostly when the viewer saw the film or it came out ("a movie I saw as a kid
sometime in the 2000s", "it got out in the 90's"; reddit-tomt:test on the full scope lost two answers, 1st ->
49th and 78th -> none, when every length read it so). In a longer query a year bound or an audience only
boosts: a remembered "between 2005 and 2010" is often off (reddit-tomt:test, served path, filtering: four
answers in the top 10 lost, among them a 1st and a 2nd)."""


def _is_setting(constraint: Constraint, text: str) -> bool:
    """Whether a decade boost names when the story is set: its words follow one of :data:`_SETTING_BEFORE`
    in the folded ``text``. Only asked of queries that describe something besides their constraints ("movies
    in the 90s" keeps its years)."""
    if constraint.kind != "years" or constraint.effect != "boost":
        return False
    index = text.find(constraint.source)
    if index <= 0:
        return False
    before = text[:index].split()
    return any(" ".join(before[-n:]) in _SETTING_BEFORE for n in (1, 2) if len(before) >= n)


def _take_like(text: str, out: list[Constraint],
               phrases: list[tuple[str, re.Pattern[str] | None]] = _LIKE_FOLDED) -> str:  # fmt: skip
    for phrase, bounded in phrases:
        index = text.find(phrase)
        if index < 0 or (bounded is not None and not bounded.search(text)):
            continue
        before, after = text[:index].strip(), text[index + len(phrase):].strip()
        if phrase in _BARE_LIKE and before and before.split()[-1] not in _LIKE_HEADS and before not in _LIKE_HEADS:
            continue  # a bare "like"/"como" inside a sentence is not a "like <title>" request
        postfix = phrase in _POSTFIX_LIKE or not after
        title = _strip_like_title(before if postfix else after)
        if title and _TABLES["type"].lookup(title) is None and title not in _LIKE_HEADS:
            out.append(Constraint("like", title, phrase, "boost"))
            return after if postfix else before
        return text
    return text


def _take_compounds(words: list[str], taken: list[bool], out: list[Constraint]) -> None:
    """German-style compounds of a genre (or audience) and a type head: "kriegsfilme", "horrorserien"."""
    for i, word in enumerate(words):
        if taken[i] or not word.isascii():
            continue
        for head, type_ in _COMPOUND_HEADS.items():
            if word.endswith(head) and len(word) > len(head) + 2:
                stem = word[: -len(head)].rstrip("-")
                genre = next((g for s in (stem, stem[:-1] if stem.endswith("s") else stem)
                              if (g := _TABLES["genre"].lookup(s)) is not None), None)  # fmt: skip
                if genre is None and stem in ("kinder", "kids", "jugend"):
                    out.append(Constraint("audience", "older_kids", word, "filter"))
                elif genre is None and stem in ("liebes", "liebe"):
                    genre = "romance"
                elif genre is None:
                    continue
                if genre is not None:
                    out.append(Constraint("genre", genre, word, "boost"))
                if type_ is not None:
                    out.append(Constraint("type", type_, word, "boost"))
                else:
                    out.append(Constraint("genre", "comedy", word, "boost"))
                taken[i] = True
                break


PEOPLE_MAX_WORDS = 6
"""Words typed in another script are looked up as a name (by sound) only in a query of at most this many
words: "films with X" is short; a plot ("... गाँव वाले क्रिकेट मैच खेलते हैं") names no one by sound."""


def _take_old(words: list[str], taken: list[bool], out: list[Constraint]) -> None:
    """"classic", "vintage", "black and white" anywhere, or an "old" word next to a type word ("old movies",
    "películas antiguas", "古い映画"), read as titles from before :data:`OLD_BEFORE` (soft)."""
    found = _TABLES["classic"].find(words, taken)[:1]
    if not found and _TABLES["type"].find(list(words), list(taken)):  # (copies: the type is read later)
        for i, word in enumerate(words):
            if not taken[i] and _TABLES["old"].lookup(word) is not None and any(
                    0 <= j < len(words) and _TABLES["type"].lookup(words[j]) for j in (i - 1, i + 1)):  # fmt: skip
                taken[i] = True
                found = [("old", word)]
                break
        else:  # glued scripts: 古い映画, 옛날 영화 (a type word anywhere in the query)
            found = _TABLES["old glued"].find(words, taken)[:1]
    for _value, source in found:
        out.append(Constraint("years", f"-{OLD_BEFORE - 1}", source, "boost"))


def _take_people(words: list[str], taken: list[bool], people: Callable[[str], str | None],
                 out: list[Constraint], query: str = "") -> None:  # fmt: skip
    """Longest runs of 2-4 free words that ``people`` resolves to a name; a single word only in a script
    other than Latin, where a name is often typed as one word (``송중기``, ``シャー・ルク・カーン``). A run in
    another script is looked up as typed in ``query``: folding drops the kana voicing marks a name is heard
    by (ブラッド・ピット folds to フラット・ヒット, which sounds like no one)."""
    for n in range(min(4, len(words)), 0, -1):
        for i in range(len(words) - n + 1):
            if any(taken[i : i + n]) or (n == 1 and words[i].isascii()):
                continue
            if not all(w.isascii() for w in words[i : i + n]) and (
                    len(words) > PEOPLE_MAX_WORDS or any(w in _STOPWORDS for w in words[i : i + n])):  # fmt: skip
                continue  # a name read by sound has no function word in it ("с киану ривзом": Jose Guns Alves)
            source = " ".join(words[i : i + n])
            name = people(source)
            typed = "" if source.isascii() else _as_typed(query, words[i : i + n])
            if name is None and typed and typed != source:
                name = people(typed)
            if name is not None:
                source = typed or source
                out.append(Constraint("person", name, source, "boost"))
                for j in range(i, i + n):
                    taken[j] = True


def _share(text: str, rest: str) -> float:
    """Share of ``text``'s characters (spaces and function words aside) not left in ``rest``."""
    def weight(s: str) -> int:
        return sum(len(w) for w in s.split() if w not in _STOPWORDS)

    total = weight(text)
    return 0.0 if total == 0 else max(0.0, 1.0 - weight(rest) / total)


MOOD_WORDS: frozenset[str] = frozenset(fold(w) for w in (
    "funny", "hilarious", "feel good", "feel-good", "feelgood", "lighthearted", "heartwarming", "uplifting",
    "to laugh", "para reir", "pour rire", "zum lachen", "da ridere", "divertid*", "divertent*", "engracad*",
    "drole", "droles", "lustig*", "смешн*", "笑える", "웃긴", "مضحك", "مضحكة", "मज़ेदार", "αστει*", "scary", "creepy",
    "spooky", "halloween", "scary for halloween", "怖い", "مرعب", "مرعبة", "to cry", "cry", "to cry at", "sad",
    "tearjerker*", "llorar", "pleurer", "weinen", "piangere", "chorar", "泣ける", "催泪", "슬픈", "грустн*",
    "date night", "action-packed", "para sentirse bien", "qui font du bien", "qui fait du bien", "gute laune",
    "gute-laune*", "che fanno stare bene", "хорошего настроения", "힐링", "心温まる", "ほっこり", "מצחיק*", "страшн*",
    "무서운", "хэллоуин", "ハロウィン", "할로윈", "万圣节", "感人", "感動", "감동", "трогательн*",
))  # fmt: skip
"""The words of :data:`_GENRES` that name a mood or an occasion rather than a genre (a trailing "*": a
stem). A query reading them as a genre must not also match them as title words (:attr:`Understanding.moods`)."""
MOOD_READINGS: dict[str, str] = {
    "drama": "a sad, moving, emotional story", "comedy": "a funny, light-hearted, feel-good story",
    "horror": "a scary, frightening horror story", "romance": "a romantic love story",
    "action": "an exciting action story",
}  # fmt: skip
"""What a mood read as a genre is encoded as, in the words the encoder knows best, instead of the mood's own
words ("cry" sits near every title with Cry in it)."""
_MOOD_STEMS = tuple(w.rstrip("*") for w in MOOD_WORDS if w.endswith("*"))


def _is_mood(source: str) -> bool:
    return source in MOOD_WORDS or source.startswith(_MOOD_STEMS)


_SUBJECTS: dict[str, tuple[str, ...]] = {
    "zombie": ("zombi*", "zombie*", "зомби", "ゾンビ", "좀비", "丧尸", "喪屍", "僵尸", "殭屍", "زومبي", "ज़ॉम्बी", "जॉम्बी",
               "ζομπι", "זומבי", "ซอมบี้"),
    "vampire": ("vampir*", "vampiro*", "вампир*", "吸血鬼", "뱀파이어", "흡혈귀", "مصاص دماء", "مصاصي الدماء", "पिशाच",
                "βρικολακ*", "ערפד*", "แวมไพร์"),
    "shark": ("tiburon*", "requin*", "hai", "haie", "squalo", "squali", "tubarao*", "акул*", "サメ", "鮫", "상어", "鲨鱼",
              "سمك القرش", "قرش", "शार्क", "καρχαρι*", "כריש*", "ฉลาม", "kopekbaligi"),
    "dinosaur": ("dinosauri*", "dinosaurio*", "dinosaure*", "dinosaurier*", "динозавр*", "恐竜", "공룡", "恐龙", "ديناصور*",
                 "डायनासोर", "δεινοσαυρ*", "דינוזאור*", "ไดโนเสาร์", "dinozor*"),
    "robot": ("robot*", "roboter*", "robo", "робот*", "ロボット", "로봇", "机器人", "機器人", "روبوت*", "रोबोट", "ρομποτ*",
              "רובוט*", "หุ่นยนต์"),
    "alien": ("extraterrestre*", "alienigena*", "außerirdische*", "ausserirdische*", "пришел*", "инопланет*", "宇宙人",
              "エイリアン", "외계인", "外星人", "كائنات فضائية", "एलियन", "εξωγηιν*", "חייזר*", "มนุษย์ต่างดาว", "uzayli*"),
    "train": ("tren", "trenes", "train", "trains", "zug", "treno", "trem", "поезд*", "電車", "列車", "기차", "열차", "火车",
              "火車", "قطار", "ट्रेन", "τρενο", "רכבת", "รถไฟ"),
    "chef cook": ("cocinero*", "cuisinier*", "koch", "koche", "cuoco", "cozinheiro*", "повар*", "шеф-повар*", "料理人",
                  "シェフ", "요리사", "셰프", "厨师", "廚師", "طباخ", "शेफ", "σεφ", "μαγειρ*", "שף", "טבח", "เชฟ", "asci*"),
    "prison": ("prision", "carcel", "prison", "gefangnis*", "prigione", "carcere", "prisao", "тюрьм*", "刑務所", "감옥",
               "교도소", "监狱", "監獄", "سجن", "जेल", "φυλακ*", "כלא", "คุก", "hapishane*"),
    "pirate": ("pirata*", "pirate*", "piraten", "pirat", "пират*", "海賊", "해적", "海盗", "قراصنة", "قرصان", "समुद्री डाकू",
               "πειρατ*", "פיראט*", "โจรสลัด", "korsan*"),
    "witch": ("bruja*", "sorciere*", "hexe*", "strega", "streghe", "bruxa*", "ведьм*", "魔女", "마녀", "女巫", "ساحرة",
              "चुड़ैल", "μαγισσ*", "מכשפ*", "แม่มด", "cadi*"),
    "ghost": ("fantasma*", "fantome*", "geist", "geister", "призрак*", "幽霊", "유령", "鬼魂", "شبح", "أشباح", "भूत",
              "φαντασμα*", "רוח רפאים", "ghost*"),
    "thief": ("泥棒", "怪盗", "盗賊", "小偷", "窃贼", "盗贼", "竊賊", "도둑", "لص", "لصوص", "चोर", "κλεφτ*", "גנב", "גנבים",
              "вор", "воры", "вора", "воров", "hirsiz*"),
    "dream": ("夢", "梦", "꿈", "حلم", "أحلام", "सपना", "सपने", "ονειρ*", "חלום", "חלומות", "ความฝัน", "сон", "сны",
              "сновиден*", "ruya*"),
    "army soldier": ("軍隊", "兵士", "军队", "士兵", "軍人", "军人", "군대", "군인", "جيش", "الجيش", "جندي", "सेना",
                     "सैनिक", "στρατο*", "στρατιωτ*", "צבא", "חייל", "חיילים", "ทหาร", "армия", "армии", "солдат*",
                     "asker*"),
    "war": ("戦争", "战争", "戰爭", "전쟁", "حرب", "الحرب", "युद्ध", "πολεμ*", "מלחמה", "สงคราม", "войн*", "savas*"),
    "orphan": ("孤児", "孤儿", "孤兒", "고아", "يتيم", "أيتام", "अनाथ", "ορφαν*", "יתום", "יתומים", "กำพร้า", "сирот*",
               "yetim*"),
    "school": ("学校", "高校", "學校", "학교", "مدرسة", "المدرسة", "स्कूल", "σχολει*", "בית ספר", "โรงเรียน", "школ*",
               "okul*"),
    "police detective": ("警察", "刑事", "探偵", "侦探", "偵探", "警探", "경찰", "형사", "탐정", "شرطة", "الشرطة", "محقق",
                         "पुलिस", "जासूस", "αστυνομ*", "ντετεκτιβ", "משטרה", "בלש", "ตำรวจ", "นักสืบ", "полиц*",
                         "детектив*", "polis", "dedektif*"),
    "murder killer": ("殺人", "殺し屋", "谋杀", "謀殺", "杀手", "殺手", "살인", "جريمة قتل", "قاتل", "हत्या", "हत्यारा",
                      "φονο*", "φονια*", "רצח", "רוצח", "ฆาตกรรม", "ฆาตกร", "убийств*", "убийц*", "cinayet*", "katil*"),
    "space": ("宇宙", "太空", "우주", "الفضاء", "अंतरिक्ष", "διαστημ*", "חלל", "อวกาศ", "космос*", "космическ*", "uzay*"),
    "time travel": ("タイムトラベル", "タイムスリップ", "時間旅行", "时间旅行", "穿越时空", "시간 여행", "타임슬립",
                    "السفر عبر الزمن", "टाइम ट्रैवल", "ταξιδι στο χρονο", "מסע בזמן", "ย้อนเวลา", "путешествие во времени",
                    "zaman yolculugu"),
    "virus epidemic": ("ウイルス", "病毒", "바이러스", "فيروس", "वायरस", "וירוס", "ไวรัส", "вирус*",
                       "эпидеми*", "疫病", "瘟疫", "전염병", "وباء", "महामारी", "επιδημι*", "מגפה", "โรคระบาด", "salgin*"),
    "doctor hospital": ("医者", "病院", "医生", "医院", "醫生", "醫院", "병원", "طبيب", "مستشفى", "डॉक्टर", "अस्पताल",
                        "γιατρ*", "νοσοκομει*", "רופא", "רופאה", "בית חולים", "โรงพยาบาล", "врач*", "больниц*", "doktor*",
                        "hastane*"),
    "spy": ("スパイ", "间谍", "間諜", "스파이", "جاسوس", "κατασκοπ*", "מרגל", "สายลับ", "шпион*", "casus*"),
    "wedding": ("結婚式", "婚礼", "婚禮", "결혼식", "زفاف", "γαμο*", "חתונה", "งานแต่งงาน", "свадьб*", "dugun*"),
    "apocalypse": ("世界の終わり", "末日", "世界末日", "종말", "نهاية العالم", "प्रलय", "αποκαλυψ*", "אפוקליפסה", "วันสิ้นโลก",
                   "апокалипсис*", "kiyamet*"),
    "monster": ("怪物", "怪獣", "괴물", "وحش", "राक्षस", "τερατ*", "מפלצת", "สัตว์ประหลาด", "монстр*", "чудовищ*",
                "canavar*"),
    "demon": ("悪魔", "恶魔", "惡魔", "악마", "شيطان", "δαιμον*", "ปีศาจ", "демон*", "seytan*"),
    "martial arts kung fu": ("功夫", "武術", "武术", "カンフー", "咏春", "무술", "쿵후", "فنون قتالية", "कुंग फू", "กังฟู",
                             "кунг-фу", "kung fu"),
    "football soccer": ("サッカー", "足球", "축구", "كرة القدم", "फुटबॉल", "ποδοσφαιρ*", "כדורגל", "ฟุตบอล", "футбол*",
                        "futbol*"),
    "boxing": ("ボクシング", "拳击", "拳擊", "복싱", "권투", "ملاكمة", "πυγμαχ*", "איגרוף", "มวย", "бокс*", "boks*"),
    "lawyer": ("弁護士", "律师", "律師", "변호사", "محامي", "वकील", "δικηγορ*", "עורך דין", "ทนาย", "адвокат*", "avukat*"),
    "teacher": ("教師", "老师", "老師", "선생님", "교사", "معلم", "शिक्षक", "δασκαλ*", "מורה", "ครู", "учител*", "ogretmen*"),
    "gangster mafia": ("ヤクザ", "極道", "黑帮", "黑幫", "마피아", "조폭", "갱스터", "عصابة", "माफिया", "гангстер*", "мафи*",
                       "μαφια", "מאפיה", "มาเฟีย", "mafya*"),
    "christmas": ("navidad*", "navideñ*", "weihnacht*", "natale", "natalizi*", "natal", "natalin*", "julefilm*",
                  "julen", "juleaften", "swiat bozego narodzenia", "swiateczn*", "рождеств*", "クリスマス", "크리스마스",
                  "圣诞", "聖誕", "كريسماس", "عيد الميلاد", "क्रिसमस", "χριστουγενν*", "כריסמס", "חג המולד", "คริสต์มาส"),
}  # fmt: skip
"""Subjects a viewer names in their own language, with the English words the encoder knows best: e5-small
places ゾンビ and 좀비 no nearer to a zombie film than to Snowpiercer, while "zombie" finds Train to Busan.
A subject is not a constraint (no filter, no boost, the word stays in the topic): its English gloss is
added to the topic the intent channel encodes (:attr:`Understanding.gloss`), and the plot and title channels
read the query with it too (:meth:`search.engine.SearchEngine.intent_channels`)."""


def _subject_keys() -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """:data:`_SUBJECTS` folded once: per gloss, each phrase's folded key and how it matches ("span": a glued
    or several-word phrase found anywhere in the query, "prefix": a word starting with a ``*`` stem, "word")."""
    out = []
    for gloss, phrases in _SUBJECTS.items():
        keys = []
        for phrase in phrases:
            key = fold(phrase.rstrip("*"))
            how = "span" if _GLUED.search(key) or " " in key else "prefix" if phrase.endswith("*") else "word"
            keys.append((key, how))
        out.append((gloss, tuple(keys)))
    return tuple(out)


_SUBJECT_KEYS = _subject_keys()


_TYPED_SUBJECTS: dict[str, str] = {"noël": "christmas"}
"""Subject words told apart only by their accents, matched on the topic as typed: Noël is Christmas, Noel a
name ("films de noël" read as words found Oasis: Supersonic and Noel Clarke's films; "noel fielding" is a person)."""


class _SubjectIndex:
    """:data:`_SUBJECT_KEYS` indexed as :class:`_Table` indexes its phrases: whole words in a dict, stems by
    their first letters, glued and several-word phrases checked only when the query has such text. Walking
    every phrase of every subject per query cost more than the rest of the understanding together."""

    def __init__(self, subjects: Sequence[tuple[str, tuple[tuple[str, str], ...]]]) -> None:
        self.glosses = [gloss for gloss, _ in subjects]
        self.words: dict[str, list[tuple[int, int]]] = {}
        self.stems: dict[str, list[tuple[str, int, int]]] = {}
        self.short_stems: list[tuple[str, int, int]] = []
        self.glued: list[tuple[str, int, int]] = []
        self.spaced: list[tuple[str, int, int]] = []
        for index, (_gloss, keys) in enumerate(subjects):
            for order, (key, how) in enumerate(keys):
                if how == "word":
                    self.words.setdefault(key, []).append((index, order))
                elif how == "prefix":
                    entry = (key, index, order)
                    if len(key) >= _HEAD:
                        self.stems.setdefault(key[:_HEAD], []).append(entry)
                    else:
                        self.short_stems.append(entry)
                else:
                    (self.glued if _GLUED.search(key) else self.spaced).append((key, index, order))

    def first_matches(self, folded: str) -> dict[int, str]:
        """Subject index -> what its first phrase (in :data:`_SUBJECTS` order) found in ``folded``: the
        phrase, or for a stem the first query word starting with it."""
        best: dict[int, tuple[int, str]] = {}

        def offer(index: int, order: int, found: str) -> None:
            if index not in best or order < best[index][0]:
                best[index] = (order, found)

        words = folded.split()
        for word in dict.fromkeys(words):
            for index, order in self.words.get(word, ()):
                offer(index, order, word)
        for word in words:  # in query order: a stem's first word wins its order
            for stem, index, order in (*self.stems.get(word[:_HEAD], ()), *self.short_stems):
                if word.startswith(stem):
                    offer(index, order, word)
        for phrases, present in ((self.glued, bool(_GLUED.search(folded))), (self.spaced, " " in folded)):
            for key, index, order in phrases if present else ():
                if key in folded:
                    offer(index, order, key)
        return {index: found for index, (_order, found) in sorted(best.items())}


_SUBJECT_INDEX = _SubjectIndex(_SUBJECT_KEYS)


def _subject_glosses(folded: str, typed: str = "") -> str:
    """English glosses of the subjects named in ``folded`` (a folded query) or, for :data:`_TYPED_SUBJECTS`,
    in ``typed`` (the same words as typed), when not written in English (a subject's first phrase found decides)."""
    out: list[str] = [gloss for word, gloss in _TYPED_SUBJECTS.items() if word in typed.casefold().split()]
    for index, found in _SUBJECT_INDEX.first_matches(folded).items():
        gloss = _SUBJECT_INDEX.glosses[index]
        english = gloss.split()
        if found not in english and found.removesuffix("s") not in english and found not in gloss and gloss not in out:
            out.append(gloss)
    return " ".join(out)


def _fold_map(query: str) -> tuple[str, str, list[int]] | None:
    """``(typed, folded, origin)``: ``query`` NFKC-normalised, its fold rebuilt one character at a time, and
    for each folded character the index of the typed one it came from; ``None`` when the per-character fold
    does not rebuild ``fold(query)``."""
    typed = unicodedata.normalize("NFKC", query)
    folded: list[str] = []
    origin: list[int] = []
    for index, ch in enumerate(typed):
        piece = " " if ch.isspace() else fold(ch)
        if piece == " " and (not folded or folded[-1] == " "):
            continue
        folded.extend(piece)
        origin.extend([index] * len(piece))
    while folded and folded[-1] == " ":
        folded.pop()
        origin.pop()
    text = "".join(folded)
    return (typed, text, origin) if text == fold(query) else None


def without_sources(query: str, sources: Sequence[str]) -> str:
    """``query`` as typed without the spans ``sources`` (folded pieces of ``fold(query)``: what constraints
    were read from) came from, spaces collapsed; ``query`` itself when a source is not found or nothing is
    left. The channels read a running time's words no more ("dog movies under 90 minutes": 90's Generation)."""
    mapped = _fold_map(query)
    if mapped is None:
        return query
    typed, text, origin = mapped
    keep = [True] * len(typed)
    for source in sources:
        start = text.find(source)
        if not source or start < 0:
            return query
        for index in range(origin[start], origin[start + len(source) - 1] + 1):
            keep[index] = False
    left = " ".join("".join(ch for ch, kept in zip(typed, keep, strict=True) if kept).split())
    return left or query


def _as_typed(query: str, words: Sequence[str]) -> str:
    """``words`` (folded words or glued pieces of ``fold(query)``, in order) as typed in ``query``.

    Each character of the query is folded on its own (:func:`_fold_map`), so every folded character knows
    the typed one it came from; each word is found left to right in the folded query and replaced by the
    typed span. Returns "" when the per-character fold does not rebuild ``fold(query)`` or a word is not
    found."""
    mapped = _fold_map(query)
    if mapped is None:
        return ""
    typed, text, origin = mapped
    out, cursor = [], 0
    for word in words:
        start = text.find(word, cursor)
        if start < 0 or not word:
            return ""
        end = start + len(word)
        out.append(typed[origin[start] : origin[end - 1] + 1])
        cursor = end
    return " ".join(out)


def understand(query: str, *, now_year: int = 2021, people: Callable[[str], str | None] | None = None) -> Understanding:
    """The constraints of ``query`` (see the module docstring); ``now_year`` anchors "recent";
    ``people`` resolves a folded run of words to a cast/director name (``None``: no person constraints)."""
    text = " ".join(fold(query).split())
    original = text
    n_words = len(text.split())
    out: list[Constraint] = []
    text = _take_like(text, out)
    like = bool(out)
    if like and not out[0].value.isascii():
        as_typed: list[Constraint] = []
        _take_like(_soft_fold(query), as_typed, _LIKE_SOFT)
        if as_typed:  # the title as typed (kana voicing, composed Hangul) finds it better than its fold
            out[0] = Constraint("like", as_typed[0].value, out[0].source, "boost")
    if like:  # "series como narcos": the head of the like phrase still says which type is wanted
        head = next(((w, v) for w in out[0].source.split() if (v := _TABLES["type"].lookup(w))), None)
        if head is not None:
            out.append(Constraint("type", head[1], head[0], "boost"))  # type: ignore[arg-type]
    text = _take_runtime(text, out)
    text = _take_years(text, out)
    words = text.split()
    taken = [False] * len(words)
    as_typed_words = list(words)  # find() takes the matched part out of a glued word
    for _value, source in _TABLES["audience"].find(words, taken):
        if not _is_viewers_age(source, original) and _names_an_audience(source, as_typed_words):
            out.append(Constraint("audience", "older_kids", source, "filter"))
    if not any(c.kind == "audience" for c in out):
        for _value, source in _TABLES["family"].find(words, taken)[:1]:
            out.append(Constraint("audience", "older_kids", source, "boost"))
        for i, word in enumerate(words[:-1]):  # "family movies", "family comedy"; not "(mafia) family drama"
            if word in _FAMILY_NOUNS and not taken[i] and not any(c.kind == "audience" for c in out) and (
                    _TABLES["type"].find([words[i + 1]], [False])
                    or any(genre in _FAMILY_GENRES for genre, _ in _TABLES["genre"].find([words[i + 1]], [False]))):  # fmt: skip
                out.append(Constraint("audience", "older_kids", word, "boost"))
                taken[i] = True
    if not any(c.kind == "years" for c in out):
        for _value, source in _TABLES["recent"].find(words, taken)[:1]:
            out.append(Constraint("years", f"{now_year - 4}-", source, "boost"))
    if not any(c.kind == "years" for c in out):
        _take_old(words, taken, out)
    _take_compounds(words, taken, out)
    for kind in ("country", "genre", "type"):
        seen = {c.value for c in out if c.kind == kind}
        for value, source in _TABLES[kind].find(words, taken):
            if value not in seen:
                seen.add(value)
                out.append(Constraint(kind, value, source, "boost"))  # type: ignore[arg-type]
    # "korean drama", "dizi" aside: a drama of a country whose dramas are series is a series (K-drama)
    if (not any(c.kind == "type" for c in out) and any(c.kind == "country" and c.value in _SERIES_DRAMA for c in out)
            and any(c.kind == "genre" and c.value == "drama" and c.source in ("drama", "dramas") for c in out)):  # fmt: skip
        out.append(Constraint("type", "show", next(c.source for c in out if c.kind == "genre" and c.value == "drama"), "boost"))
    if people is not None and not like:
        _take_people(words, taken, people, out, query)
    rest = " ".join(w for w, t in zip(words, taken, strict=True) if not t)
    if like:
        rest = ""  # "movies like <title>": the title is the whole request
    topic = [w for w in rest.split() if w not in _STOPWORDS]
    if topic and n_words <= SETTING_MAX_WORDS:
        out = [c for c in out if not _is_setting(c, original)]
    if n_words > SETTING_MAX_WORDS:  # a remembered year or audience in a long post is a hint, not a rule
        out = [replace(c, effect="boost") if c.effect == "filter" else c for c in out]
    typed = _as_typed(query, topic)
    return Understanding(tuple(out), rest, n_words, 1.0 if like else _share(original, rest), typed,
                         _subject_glosses(" ".join(topic), typed) if topic else "")  # fmt: skip
