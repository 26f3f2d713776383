"""Sentiment for brand mentions: TextBlob polarity plus rules about how people complain and praise.

TextBlob's lexicon comes from product reviews, so it misses most of what makes a brand mention negative
(a cancelled order has no adjective in it) and reads sarcasm literally. The rules below add general
service-failure, gratitude, emoji and sarcasm knowledge that holds for any brand or industry.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import types
from dataclasses import dataclass, field

from triage.priority import HARM_RE


def _load_pattern_sentiment():
    """The engine behind TextBlob's default PatternAnalyzer (`textblob.en.sentiment`), called directly: one call
    yields both the score and the assessments used for negation cues, and it needs no NLTK corpora.

    `textblob/__init__.py` imports TextBlob's blob classes and through them NLTK and SciPy's statistics, about
    2 s at every start of a worker or of `triage classify`, for nothing this engine uses. So `textblob.en` is
    imported under a bare stand-in for its package, and all of it is then taken out of `sys.modules` again: a
    later `import textblob` anywhere imports the real package afresh.
    """
    if "textblob" in sys.modules:
        return importlib.import_module("textblob.en").sentiment
    spec = importlib.util.find_spec("textblob")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("textblob is not installed")
    stand_in = types.ModuleType("textblob")
    stand_in.__path__ = list(spec.submodule_search_locations)
    sys.modules["textblob"] = stand_in
    try:
        return importlib.import_module("textblob.en").sentiment
    finally:
        for name in [n for n in sys.modules if n == "textblob" or n.startswith("textblob.")]:
            del sys.modules[name]


def _eager(engine):
    """The engine, its lexicon loaded now and read as a plain dict.

    The engine is a lazydict: every word looked up first asks whether the lexicon has loaded yet, a good part of
    the engine's time. A subclass with dict's own lookups takes that question away; what it answers is unchanged.
    """
    len(engine)  # loads the lexicon
    engine.__class__ = type("LoadedSentiment", (type(engine),),
                            {"__contains__": dict.__contains__, "__getitem__": dict.__getitem__, "get": dict.get})
    return engine


_pattern_sentiment = _eager(_load_pattern_sentiment())
_find_tokens = _pattern_sentiment.tokenizer
_PATTERN = _find_tokens.__globals__  # textblob._text: its tokenizer's punctuation and abbreviations
_EDGE_MARKS = tuple(_PATTERN["PUNCTUATION"].replace(".", ""))
_ABBREVIATIONS = frozenset(_PATTERN["ABBREVIATIONS"])
_LETTER_ABBREVIATION_RE = re.compile(r"(?:[A-Za-z]\.)+\Z")  # "a.", "u.s."
# Every emoticon in TextBlob's list, and its "(!)" for sarcasm, holds one of these (or a capital letter, and the
# text is lower-cased): a text without them needs none of the pattern tokenizer's rejoining of split marks.
_EMOTICON_CHAR_RE = re.compile(r"[:;=()<>\u00b0\u2665]")
_QUOTES = ("\u201c", "\u201d", "\u2018", "\u2019", "'", '"')


def _lexicon_tokens(lower: str) -> list[str]:
    """The words TextBlob's pattern engine reads from a lower-cased text, as its own tokenizer finds them.

    That tokenizer spends most of its time on rejoining emoticons and "(!)" that its punctuation splitting tore
    apart, and on finding sentence ends; for the many posts that hold no emoticon character this does the rest
    (the same splitting of contractions, quotes and edge punctuation, the same abbreviations) at a third of the
    cost. A test holds the two equal over real and random text.
    """
    if _EMOTICON_CHAR_RE.search(lower):
        return " ".join(_find_tokens(lower)).split()
    lower = lower.replace("n't", " n't")
    for quote in _QUOTES:
        if quote in lower:
            lower = lower.replace(quote, f" {quote} ")
    tokens: list[str] = []
    for t in lower.split():
        while t.startswith(_EDGE_MARKS):
            tokens.append(t[0])
            t = t[1:]
        tail = []
        while t.endswith(_EDGE_MARKS) or t.endswith("."):
            if t.endswith(_EDGE_MARKS):
                tail.append(t[-1])
                t = t[:-1]
            if t.endswith("..."):
                tail.append("...")
                t = t[:-3].rstrip(".")
            if t.endswith("."):
                if t in _ABBREVIATIONS or _LETTER_ABBREVIATION_RE.match(t):
                    break
                tail.append(".")
                t = t[:-1]
        if t:
            tokens.append(t)
        tokens.extend(reversed(tail))
    return tokens

SENTIMENTS = ("negative", "neutral", "positive")

URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.I)
MENTION_RE = re.compile(r"(?<![\w@])@\w+")
HASHTAG_RE = re.compile(r"#(\w+)")
ELONGATED_RE = re.compile(r"\b\w*([a-z])\1{2,}\w*\b", re.I)
SQUEEZE_RE = re.compile(r"([a-z])\1{2,}", re.I)
CAPS_WORD_RE = re.compile(r"\b[A-Z][A-Z']{2,}\b")
LETTER_WORD_RE = re.compile(r"\b[^\W\d_]{3,}\b")
HTML_ENTITY_RE = re.compile(r"&(?:amp|gt|lt|quot|#39);")
HTML_ENTITIES = {"&amp;": "&", "&gt;": ">", "&lt;": "<", "&quot;": '"', "&#39;": "'"}


def _words(*phrases: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(phrases) + r")\b")


_DURATION = (
    r"(?:\d+|an?|one|two|three|four|five|six|ten|several|many|few)\+? ?"
    r"(?:hours?|hrs?|minutes?|mins?|days?|weeks?|months?)"
)
_NEG_AUX = (
    r"(?:hasn'?t|haven'?t|hadn'?t|didn'?t|doesn'?t|don'?t|won'?t|wouldn'?t|can'?t|cannot|couldn'?t|isn'?t|wasn'?t"
    r"|aren'?t|weren'?t|ain'?t|(?:has|have|did|does|do|will|can|is|was) not)"
)
_SERVICE_VERBS = (
    r"(?:arrive[ds]?|come|came|show(?:ed)? up|receive[ds]?|get|got|hear|heard|respond(?:ed)?|reply|replied"
    r"|work(?:s|ed|ing)?|load|open|connect|log ?in|sign ?in|access|get through|reach|help(?:ed)?|fix(?:ed)?"
    r"|answer(?:ed)?|call(?:ed)? back"
    r"|refund(?:ed)?|deliver(?:ed)?|turn on|charge|pay|send|sent|show|see|find|use|download|print|watch|play|stream"
    r"|update|install|board|check in|cancel|change|book|transfer|track)"
)

# Things going wrong with a product or service, worded alike for airlines, shops, banks, telecoms or apps.
FAILURE_RE = _words(
    r"delay(?:ed|s|ing)?", r"cancel+(?:ed|ation|ations)", r"postponed", r"lost", r"missing", r"damaged", r"broken",
    r"broke", r"stolen", r"stuck", r"stranded", r"strand(?:s|ing)?", r"overbooked", r"diverted", r"bumped", r"late",
    r"later than", r"on ?hold", r"hold music", r"hang(?:s|ing)? up", r"hung up", r"disconnected", r"cut off",
    r"still (?:waiting|no|not|nothing|have ?n[o']t|has ?n[o']t|don'?t|can'?t|doesn'?t|isn'?t)",
    r"(?:been )?wait(?:ed|ing) (?:for |on )?(?:over |almost |nearly |more than )?" + _DURATION,
    _DURATION + r" (?:on hold|wait|later|late|delay)", _DURATION + r" of (?:waiting|calling|trying|hold)",
    r"never (?:arrived|received|got|came|showed|delivered|heard|responded|replied|called|answered|fixed|refunded"
    r"|again)",
    _NEG_AUX + r" (?:even )?" + _SERVICE_VERBS, r"unable to", r"stopped working", r"not found", r"frozen",
    r"not (?:working|arrived|delivered|received|responding|loading|helpful|happy|impressed|acceptable|ok|okay|fixed)",
    r"keeps? (?:crashing|freezing|dropping|failing|disconnecting|cancel+ing|getting|telling|saying|asking|going down"
    r"|breaking|buffering|logging me out|charging me)",
    r"hangs", r"buffering", r"crash(?:ed|es|ing)?", r"froze", r"freez(?:es|ing)", r"outages?", r"down again",
    r"(?:is|are|was|went|been) down",
    r"(?:no|zero) (?:signal|service|internet|wifi|wi-fi|connection|power|response|reply|answer|help|updates?|info"
    r"|information|explanation|communication|refund|compensation|email|call ?back|bags?|luggage|seats?|food|water"
    r"|customer service|support|announcements?|solution|way|resolution|luck)",
    r"nobody", r"no ?one", r"charged (?:me )?(?:twice|double|two times|again|extra|for)", r"double[- ]charged",
    r"overcharg(?:ed|ing|e)", r"(?:pay|paid|charged?|charging) (?:an? )?extra", r"refunds?", r"hidden fees?",
    r"scam(?:s|med|ming|mers?)?", r"rip(?:ped)?[- ]?off", r"ripping", r"fraud(?:ulent)?", r"greed(?:y)?", r"unethical",
    r"missed (?:my |our |the |a )?(?:connection|connecting|flight|delivery|appointment|train|bus)",
    r"(?:wrong|incorrect) (?:order|item|size|address|bill|charge|amount|information|info|gate|product)", r"cold food",
    r"errors?", r"glitch(?:es|y)?", r"bug(?:s|gy|fest)?", r"jammed", r"no longer (?:available|works?|working)",
    r"locked out", r"waste of (?:time|money)", r"wasted?", r"lose (?:customers|business)", r"run ?around", r"no choice",
    r"rude(?:ly|ness)?", r"unhelpful", r"unacceptable", r"ridiculous", r"incompeten(?:t|ce)", r"useless", r"worst",
    r"(?:poor|bad|terrible|awful|horrible|lousy|shitty|crappy|pathetic|appalling|abysmal) (?:customer )?"
    r"(?:service|support|experience|communication|management)",
    r"nightmare", r"disgrace(?:ful)?", r"shameful", r"joke", r"fail(?:ed|s|ing|ure)?", r"sub-?par", r"substandard",
    r"screw(?:ed|ing)?(?: up| over)?", r"hat(?:e|es|ed|ing)", r"(?:are you|you'?re|you are) kidding", r"lack of",
    r"not allow(?:ed|ing)", r"(?:would|will|won'?t) never (?:fly|use|buy|shop|order|bank|recommend|book|go)",
    r"never will i", r"ruin(?:ed|s|ing)?", r"lie[sd]?", r"lying", r"liars?", r"misinform(?:ed|ation)?", r"inaccurate",
    r"messed up", r"mess", r"clueless", r"criminals?", r"lame", r"dumb(?:est)?", r"stupid", r"idiots?", r"assholes?",
    r"blows", r"tortur\w+", r"crickets", r"aggravat\w+", r"condescen\w+", r"disap+(?:oin)?t\w*", r"mistreat(?:ed)?",
    r"would(?:'?ve| have|a) been nice", r"snapped", r"cracked", r"shattered", r"smashed", r"dented", r"torn",
    r"(?:in|into) (?:half|two|pieces|bits)", r"(?:fell|falling|came|coming) apart", r"leak(?:s|ed|ing)",
    r"(?:wouldn'?t|would not|won'?t|will not|don'?t|do not|never|couldn'?t|could not|cannot|can'?t) (?:ever )?"
    r"recommend",
)
# Frustration markers: negative in a brand mention, but weaker evidence than a named failure.
TROUBLE_RE = _words(
    r"(?<!no )issues?", r"(?<!no )problems?", r"trouble", r"again", r"yet", r"hours?", r"(?:any|no) updates?",
    r"complain(?:t|ts|ed|ing)?", r"frustrat(?:ed|ing|ion)", r"furious", r"pissed", r"fed up", r"sick of", r"tired of",
    r"annoyed", r"upset", r"angry", r"disappoint(?:ed|ing|ment)", r"unhappy", r"smh", r"ugh+", r"wtf", r"ffs",
    r"fuck\w*", r"f\*+\w*", r"shit\w*", r"damn", r"bs", r"garbage", r"trash", r"rubbish", r"sucks?", r"hell",
    r"embarrass(?:ing|ed)", r"seriously", r"why(?! not)", r"or nah", r"what'?s the point", r"how about", r"hold ?up",
    r"what (?:is going on|gives|happened|the hell)", r"how (?:hard|difficult) is it", r"get it together", r"do better",
    r"fix (?:it|this|your)", r"never again", r"should(?:'?ve| have| not|n'?t)", r"wish (?:you|they|it|i)", r"fees?",
    r"without", r"nothing", r"wrong", r"inconvenien\w+", r"drops?", r"dropping", r"deactivated", r"not entitled",
    r"(?:don'?t|doesn'?t) care", r"(?:it'?s|has) been (?:like this )?(?:for )?(?:days|weeks|months|ages|forever)",
    r"for (?:days|weeks|months|ages)", r"anymore", r"at least", r"(?:was|were) supposed to", r"instead",
    r"(?<!only )(?<!just )took (?:over |almost |nearly |more than )?(?:\d+|a|an|one|two|three|four|five|six|seven"
    r"|eight|nine|ten|several|many) (?:days|weeks|months)",
)
# Words that sound negative in idioms that are not: a "dumb question" is modesty, a tune "stuck in my head" is
# no fault. Blanked out before any other rule (and the lexicon) reads the text.
IDIOM_RE = _words(
    r"(?:dumb|silly|stupid|daft|naive|noob|basic|random|quick) (?:q|qs|question|questions)",
    r"stuck in (?:my|our|your) (?:head|heads|brain|mind)", r"(?:can'?t|cannot) stop (?:listening|watching|singing"
    r"|humming|playing|laughing)",
)
# Asking to reach a person is giving up on the self-service or the bot: a complaint however politely put.
WANTS_PERSON_RE = _words(
    r"(?:want|need|let me (?:speak|talk) to|put me through to|connect me (?:to|with)|get me|(?:speak|talk|chat)"
    r" (?:to|with)) (?:a |an |some )?(?:real |actual |live |proper )?(?:human(?: being)?|person|people)",
    r"(?:real|actual|live|proper) (?:human|person|agent)",
    r"(?:speak|talk) to (?:a |the |your )?(?:manager|supervisor)",
)
# Harm asked about rather than reported ("what if the battery overheats?").
HYPOTHETICAL_HARM_RE = _words(
    r"what if", r"in case", r"(?:can|could|might|may|will|would) (?:\w+ ){0,2}(?:catch|get|be|go) (?:on )?"
    r"(?:fire|hacked|compromised)", r"how (?:do|can|to|should) (?:i |we )?(?:avoid|prevent|protect|stop|keep)",
    r"(?:is|are) (?:it|they|these|those) safe",
)
# Recommending to others, the strongest praise a brand gets ("would recommend", "highly recommend").
RECOMMEND_RE = _words(
    r"(?:would|i'?d|we'?d|highly|definitely|totally|strongly|thoroughly|fully|really|100%|always) recommend",
    r"recommend (?:\w+ ){0,3}to (?:anyone|anybody|everyone|everybody|all|friends|family)",
)
# "'unlimited' data my foot": the claim is quoted to be mocked. "my foot" after a claim, and a quoted claim in a
# post that reports trouble, both turn the quoted praise round.
MY_FOOT_RE = re.compile(r"(?:(?<=\s)|^)(?:(\S+) )?my (?:foot|arse|ass|eye)(?=\s*(?:[.,!;:)]|$|\s(?:lol|lmao|haha)))")
_LITERAL_BEFORE_FOOT = frozenset(
    "on in into onto off from over under with to and of at by hurt hurts broke broken injured stepped dropped fell "
    "landed ran sprained twisted cut burned burnt stubbed hit crushed kick kicked".split()
)
SCARE_QUOTE_RE = re.compile(
    r"(?:^|(?<=[\s(]))['\u2018\"\u201c]([^'\u2018\u2019\"\u201c\u201d\n]{2,40}?)['\u2019\"\u201d](?=[\s.,!?;:)]|$)"
)
CLAIM_RE = _words(
    r"unlimited", r"express", r"premium", r"priority", r"free", r"instant(?:ly)?", r"guaranteed", r"available",
    r"processing", r"on time", r"fast(?:est)?", r"quick(?:est)?", r"easy", r"simple", r"reliable", r"secure", r"safe",
    r"support", r"service", r"help(?:ful)?", r"fixed", r"working", r"upgrade", r"improve(?:d|ment|ments)?",
    r"super ?fast", r"high[- ]speed", r"next[- ]day", r"24/7", r"care", r"resolved", r"investigating",
    r"looking into(?: it)?", r"soon", r"shortly", r"seamless", r"smooth", r"best", r"great", r"world[- ]class",
    r"luxury", r"comfort(?:able)?", r"friendly", r"happy to help", r"valued?", r"important", r"sorry",
)
SO_CALLED_RE = _words(r"so[- ]called", r"supposed(?:ly)?", r"apparently", r"allegedly", r"claims? to be")
# A negation about the service ("can't", "won't") rather than about an adjective, which TextBlob already handles.
NEGATION_RE = re.compile(_NEG_AUX + r"(?! wait)")
# Doubled marks read as exasperation ("??", "?!").
EXASPERATION_RE = re.compile(r"\?{2,}|\?!|!\?")
# Negated complaints that praise ("no complaints", "can't thank you enough"): blanked out before the failure and
# negation rules run, and counted as praise instead.
REASSURANCE_RE = _words(
    r"no (?:worries|complaints?|problems?|issues?|trouble|hassle)", r"can'?t complain", r"not bad", r"never fails?",
    r"not (?:your|their|his|her) fault", r"(?:didn'?t|never|don'?t|won'?t|doesn'?t) (?:disappoint|let (?:me|us) down)",
    r"don'?t (?:ever )?change", r"couldn'?t (?:be|have been|ask for) (?:more|better|happier|a better)",
    r"can'?t (?:thank|recommend) (?:\w+ )?enough", r"without (?:a |any )?(?:hitch|problems?|issues?|difficulty|hassle)",
    r"(?:no|never) (?:long )?(?:wait|delay)s?",
)
# Signs that a failure was put right, which turns a report of it into thanks for whoever fixed it.
RECOVERY_RE = _words(
    r"(?:got|get|getting|gotten) (?:me|us|my|our|it)", r"help(?:ed|ing)", r"located", r"returned", r"refunded",
    r"found", r"fixed", r"resolved", r"sorted(?: out)?", r"rebooked (?:me|us)", r"dealt with", r"handled", r"made it",
    r"thanks to", r"on (?:the )?(?:same|next|earlier) (?:flight|one|day)", r"took care", r"taking care", r"saved",
    r"works? (?:now|again|fine)", r"tracked (?:it|them|\w+) down", r"back (?:in|on|into|to) (?:my|our|the) (?:account"
    r"|card|bank|wallet)", r"(?:already|is|was|were|are|came|money'?s|refund'?s) back", r"replac(?:ed|ement)",
    r"(?:delivered|brought|sent|returned|found|fixed|repaired|recovered|restored) (?:it|them|mine)", r"turned up",
    r"on (?:my|our) (?:doorstep|door)", r"(?:same|next) (?:day|night|morning|afternoon)",
    r"(?:faster|quicker|sooner|earlier) than (?:promised|expected|i expected|i thought|quoted|planned)",
    r"in no time", r"(?:all )?good now", r"up and running", r"back (?:up|online|working|to normal)", r"credited",
    r"repaired", r"restored", r"recovered",
)
# Wishes and requests borrow praise words without praising anything yet ("it would be great if...").
WISH_RE = _words(
    r"(?:would|'d) (?:love|like|be (?:great|awesome|nice|amazing|good|cool|lovely|helpful))", r"hop(?:e|ing)",
    r"pray(?:ing)?", r"if (?:you|u) (?:could|can|would)", r"looking for", r"trying to",
    r"any (?:suggestions?|recommendations?|tips?|ideas?)",
    r"(?:what|which|where|who) (?:would|do|can) (?:you|u) recommend",
)
# How to do something: a question even when the thing is a failure ("how do I report a lost card").
HOW_TO_RE = re.compile(
    r"\b(?:how (?:do|can|should|would|could) (?:i|we|you|u|one)|how to|(?:is there|what'?s|what is) (?:a|the|any)"
    r" (?:\w+ )?way to|where (?:do|can|should|would) (?:i|we) (?:find|see|get|change|turn|set|go|update|download|check"
    r"|add|report|buy|pay|sign))\b",
    re.I,
)
# A failure asked about rather than reported ("will my flight be delayed?") is not yet a complaint.
HYPOTHETICAL_RE = _words(
    r"what if", r"in case", r"if (?:my|the|our|it|there|i|we)", r"any chance", r"chances?", r"possib\w+", r"likely",
    r"expect(?:ed|ing)?", r"will (?:\w+ ){1,3}be", r"(?:is|are) (?:there|it|my|the|our|flights?|any)", r"going to be",
    r"how (?:do|can|to)",
)
GRATITUDE_RE = _words(
    r"thanks?(?! for nothing)", r"thank (?:you|u|ya)", r"thx", r"thnx", r"thanx", r"tx", r"ty", r"tysm",
    r"appreciated?", r"kudos", r"props", r"shout ?out", r"grateful", r"thankful", r"cheers",
)
PRAISE_RE = _words(
    r"lov(?:e|ed|es|ing)", r"luv", r"recommend(?:ed)?", r"best", r"amazing", r"awesome", r"great", r"fantastic",
    r"excellent", r"outstanding", r"superb", r"brilliant", r"wonderful", r"perfect", r"beautiful", r"nice", r"sweet",
    r"cool", r"impress(?:ed|es|ive)?", r"well done", r"good job", r"great job", r"(?:you|u) rock", r"rocks",
    r"rock ?stars?", r"heroe?s?", r"mvp", r"lifesaver", r"life saver", r"favou?rite", r"helpful", r"smooth",
    r"seamless", r"pleasure", r"happy", r"glad", r"yay", r"woo+h?oo+", r"a\+", r"10/10", r"5 stars?", r"five stars?",
    r"quick(?:ly)?", r"fast", r"friendly", r"friendliest", r"courteous", r"professional", r"exceeded",
    r"(?:much )?respect", r"above and beyond", r"gold star", r"big ups", r"can'?t wait", r"apology accepted",
    r"in my life", r"deserves? (?:a raise|a medal|an award|praise|recognition|a promotion)", r"win", r"made it",
    r"worked", r"works now", r"resolved", r"sorted",
)
# Phrases that are sarcastic on their own.
SARCASM_RE = re.compile(
    r"\bthanks?(?: you)?(?: so much| a lot)? for (?:nothing|ruining|making (?:me|us) wait|losing|wasting|leaving"
    r"|ignoring|screwing|breaking|cancel+ing|delaying|stranding|the delay|not|never)\b"
    r"|\bthanks? (?:\w+ ){0,4}for (?:taking (?:\w+ )?(?:\d+|an?|two|three|several|many) (?:hours?|days?|weeks?|months?)"
    r"|keeping me (?:on hold|waiting)|charging me)\b"
    r"|(?<!thanks )(?<!thank you )(?<!thank u )\bso much for\b|\byeah,? right\b"
    r"|\boh,? (?:great|joy|wonderful|perfect)\b"
    r"|\bjust what i (?:needed|wanted)\b|#not\b|(?:^|\s)/s\b|\bsaid no one ever\b|\bwhat a (?:joke|surprise)\b"
    r"|\blove (?:how|that|it when|when)\b[^.!?]*"
    r"\b(?:not|never|no|n't|cancel\w*|delay\w*|lost|wait\w*|hours?|still|again)\b"
)
# Praise that is only sarcastic next to a reported failure ("great job, lost my bag").
SARCASM_WITH_FAILURE_RE = _words(
    r"(?:great|good|nice|fantastic|awesome) (?:job|work)", r"way to go", r"thanks? (?:a lot|so much)", r"as always",
    r"of course", r"bravo", r"well done", r"classy", r"stellar", r"impressive", r"congrat\w*",
    r"(?:great|awesome|perfect|wonderful|fantastic|brilliant|lovely|nice|love it)[,.!]+ (?:another|now|yet|again|more)",
)
# Hashtags glue words together (#neverflyingagain), so they are searched for stems rather than whole words.
NEG_HASHTAG_RE = re.compile(
    r"#\w*(?:fail|suck|worst|never|hate|angry|unhappy|disappoint|boycott|ripoff|scam|shame|fix|lost|delay|cancel|broke"
    r"|bad|poor|terrible|awful|horrible|rude|useless|joke|wtf|sad|frustrat|nothanks|notcool|notok|notimpressed|sos"
    r"|unacceptable|ridiculous|stuck|stranded|wait|unfriendly|dis(?=[a-z]{4,}\b)|epic\w*|fml|smh|ugh)\w*",
    re.I,
)
POS_HASHTAG_RE = re.compile(
    r"#\w*(?:love|thank|best|great|awesome|happy|amazing|rock|kudos|grateful|blessed|winning|favorite|excellent"
    r"|perfect)\w*",
    re.I,
)
POSITIVE_EMOJI = frozenset("😀😃😄😁😆😊🙂😍🥰😘😻💕💖💗💓💞💯👍👏🙌🎉🥳✨😎🤗🙏⭐🌟😇😋🤩💙💚💜🧡❤♥☺👌🎊🏆💪✌🤘")
NEGATIVE_EMOJI = frozenset("😡😠🤬😤😞😔😟😢😭😩😫😒🙄😑👎💩🤦😖😣😰😱💔🤮😓😥😿🤢😪😕☹😬😾😐🖕")
EMOTICON_POS_RE = re.compile(r"(?:^|\s)(?:[:;=]-?[)D\]pP]|\(-?[:;=]|<3|\^\^?_?\^)(?=\s|$)")
EMOTICON_NEG_RE = re.compile(r"(?:^|\s)(?:[:;=]'?-?[(\[/\\|]|>:-?\(|D-?:|:-?@)(?=\s|$)")

# Hand-set, then checked against labelled posts: a named failure outweighs a polite "thanks",
# which is how support teams read a mention.
WEIGHTS: dict[str, float] = {
    "lexicon": 0.7, "hashtag": 0.35, "failure": 0.35, "hypothetical_failure": 0.15, "trouble": 0.12,
    "negation": 0.15, "emoji": 0.15, "gratitude": 0.3, "polite_thanks": 0.1, "praise": 0.1, "unscored_praise": 0.3,
    "shouting": 0.2, "question_damping": 0.6, "question_damping_positive": 0.45, "harm": 0.45,
    "wants_person": 0.3, "recommend": 0.35, "recovered_failure": 0.05, "recovery": 0.15,
}  # fmt: skip
NEG_THRESHOLD = -0.12
POS_THRESHOLD = 0.2


@dataclass(slots=True)
class SentimentResult:
    """Sentiment of one text, with the evidence the intent rules reuse."""

    label: str = "neutral"
    polarity: float = 0.0
    subjectivity: float = 0.0
    confidence: float = 0.3
    failures: list[str] = field(default_factory=list)
    trouble: int = 0
    gratitude: bool = False
    praise: bool = False
    sarcasm: bool = False
    harm: list[str] = field(default_factory=list)  # harm, hacking, legal threats, money taken (not hypothetical)
    wants_person: bool = False
    emoji_score: int = 0
    cues: list[str] = field(default_factory=list)


def clean_for_lexicon(text: str) -> str:
    """Drop URLs and @-handles, unwrap hashtags and unescape the few HTML entities tweets carry."""
    text = URL_RE.sub(" ", text)
    text = MENTION_RE.sub(" ", text)
    text = HASHTAG_RE.sub(r"\1", text)
    if "&" in text:
        text = HTML_ENTITY_RE.sub(lambda m: HTML_ENTITIES[m.group(0)], text)
    return text


def _emoji(text: str, res: SentimentResult) -> None:
    pos: list[str] = []
    neg: list[str] = []
    if not text.isascii():  # the cheap test spares the per-character scan for most English posts
        pos = [c for c in text if c in POSITIVE_EMOJI]
        neg = [c for c in text if c in NEGATIVE_EMOJI]
    if m := EMOTICON_POS_RE.search(text):
        pos.append(m.group(0).strip())
    if m := EMOTICON_NEG_RE.search(text):
        neg.append(m.group(0).strip())
    res.emoji_score = len(pos) - len(neg)
    res.cues.extend(f"emoji {c}" for c in pos[:1] + neg[:1])


def analyse(text: str, question: bool = False, body: str | None = None) -> SentimentResult:
    """Score `text` (already sanitised and bounded); `question` softens tone, as asking is not yet complaining.

    `body` is `clean_for_lexicon(text)` when the caller already has it.
    """
    res = SentimentResult()
    cues = res.cues
    _emoji(text, res)
    body = clean_for_lexicon(text) if body is None else body
    if m := ELONGATED_RE.search(body):
        cues.append(f"elongated: {m.group(0)}")
        body = SQUEEZE_RE.sub(r"\1\1", body)  # "sooooo goooood" -> "soo good"-ish, closer to lexicon forms
    caps = CAPS_WORD_RE.findall(body)
    shouting = len(caps) >= 3 and len(caps) * 2 >= len(LETTER_WORD_RE.findall(body))
    if shouting:
        cues.append("shouting")
    lower = body.lower().replace("\u2019", "'")  # phones type curly apostrophes; the lexicons use straight ones
    if m := IDIOM_RE.search(lower):
        cues.append(f"idiom: {m.group(0)}")
        lower = IDIOM_RE.sub(" ", lower)

    score = _pattern_sentiment(_lexicon_tokens(lower))
    base, res.subjectivity = float(score[0]), float(score[1])
    for words, *_ in score.assessments:
        if len(words) > 1 and words[0] in ("not", "n't", "no", "never"):
            cues.append("negation: " + " ".join(words).replace(" n't", "n't"))
            break

    reassurance = REASSURANCE_RE.findall(lower)
    if reassurance:
        lower = REASSURANCE_RE.sub(" ", lower)
    res.failures = FAILURE_RE.findall(lower)
    hypothetical = question and bool(res.failures) and HYPOTHETICAL_RE.search(lower) is not None
    label = "asks about failure" if hypothetical else "service failure"
    harm = HARM_RE.findall(lower)
    if harm and question and HYPOTHETICAL_HARM_RE.search(lower):
        cues.append(f"asks about harm: {harm[0]}")
        res.failures += harm[:1]
    elif harm:
        res.harm = harm
        cues.append(f"serious: {harm[0]}")
    if m := WANTS_PERSON_RE.search(lower):
        res.wants_person = True
        cues.append(f"wants a person: {m.group(0)}")
    cues.extend(f"{label}: {f}" for f in dict.fromkeys(res.failures[:2]))
    hashtag = 0
    if "#" in text:
        neg_tags, pos_tags = NEG_HASHTAG_RE.findall(text), POS_HASHTAG_RE.findall(text)
        hashtag = (len(pos_tags) > len(neg_tags)) - (len(neg_tags) > len(pos_tags))
        if hashtag:
            cues.append(f"hashtag {(pos_tags if hashtag > 0 else neg_tags)[0]}")
    trouble = TROUBLE_RE.findall(lower)
    res.trouble = len(trouble)
    if trouble and not res.failures:
        cues.append(f"negative wording: {trouble[0]}")
    if m := EXASPERATION_RE.search(lower):
        res.trouble += 1
        cues.append(f"exasperation {m.group(0)}")
    negations = len(NEGATION_RE.findall(lower))
    res.gratitude = GRATITUDE_RE.search(lower) is not None
    praise = reassurance + PRAISE_RE.findall(lower)
    recommend = None
    if "recommend" in lower:
        if any("recommend" in f for f in res.failures):  # "would not recommend" praises nothing
            praise = [p for p in praise if "recommend" not in p]
        else:
            recommend = RECOMMEND_RE.search(lower)
    if WISH_RE.search(lower):
        praise, recommend = [], None
        base = min(base, base * 0.5)  # halve only a positive pull: the praise is hoped for, not given
    if recommend:
        praise.insert(0, recommend.group(0))
    res.praise = bool(praise)
    # Only thanks or praise next to the fix counts: "nobody is helping" names no recovery.
    failed = bool(res.failures or res.harm)
    fix = RECOVERY_RE.search(lower) if failed and (res.gratitude or res.praise) else None
    recovered = fix is not None
    m = SARCASM_RE.search(lower) or (SARCASM_WITH_FAILURE_RE.search(lower) if res.failures and not recovered else None)
    irony = _irony(lower, bool(res.failures or res.trouble or res.emoji_score < 0)) if m is None else None
    if m or irony:
        res.sarcasm = True
        cues.append(f"sarcasm: {m.group(0).strip()}" if m else f"irony: {irony}")
    if fix is not None:
        cues.append(f"problem resolved: {fix.group(0)}")
    if res.gratitude:
        cues.append(f"gratitude: {GRATITUDE_RE.search(lower).group(0)}")
    if praise:
        cues.append(f"praise: {praise[0]}")

    w = WEIGHTS
    # A reported failure makes the lexicon's praise words unreliable ("great, now I'm stuck"), so cap their pull;
    # once the failure was put right and someone thanked for it, the praise is meant.
    pol = w["lexicon"] * (min(base, 0.1) if (failed and not recovered) or hashtag < 0 else base)
    pol += w["hashtag"] * hashtag
    failure_weight = w["recovered_failure" if recovered else "hypothetical_failure" if hypothetical else "failure"]
    pol -= failure_weight * min(len(res.failures), 3)
    pol -= (w["recovered_failure"] if recovered else w["harm"]) * min(len(res.harm), 2)
    pol -= w["wants_person"] * res.wants_person
    pol += w["recovery"] * recovered
    pol += w["recommend"] * bool(recommend)
    pol -= w["trouble"] * min(res.trouble, 3)
    pol -= w["negation"] * min(negations, 2)
    pol += w["emoji"] * max(-2, min(res.emoji_score, 2))
    if res.gratitude:
        # "Thanks" closing a question or an unresolved failure is politeness, not praise.
        pol += w["polite_thanks"] if (res.failures and not recovered) or question else w["gratitude"]
    # Praise the review lexicon already scores counts lightly; praise it lacks ("helpful", "kudos") counts fully.
    pol += sum(w["praise"] if p in _pattern_sentiment else w["unscored_praise"] for p in praise[:2])
    if res.sarcasm:
        pol = min(-0.4, -abs(pol))
    if shouting and pol <= 0.1:
        pol -= w["shouting"]
    # A how-to's conditions ("without losing my photos") are no frustration either.
    calm = res.trouble == 0 or (res.trouble == 1 and HOW_TO_RE.search(lower) is not None)
    if question and not (res.sarcasm or res.harm or res.wants_person) and calm and res.emoji_score >= 0:
        # Asking about a delay is not yet complaining about one: questions carry weaker tone, praise most of all.
        pol *= w["question_damping"] if pol < 0 else w["question_damping_positive"]
    res.polarity = max(-1.0, min(1.0, pol))
    res.label, res.confidence = _label(res.polarity, len(cues))
    return res


def _irony(lower: str, trouble: bool) -> str | None:
    """The words that mock a claim ("'unlimited' data my foot"), or None: "my foot" after anything but a literal
    foot, or a quoted claim ("the 'express' delivery") in a post that reports trouble or calls it so-called."""
    if "my " in lower and (m := MY_FOOT_RE.search(lower)):
        before = (m.group(1) or "").strip(".,!?;:'\"")
        if before not in _LITERAL_BEFORE_FOOT:
            return m.group(0).strip()
    if "'" in lower or '"' in lower or "\u2018" in lower or "\u201c" in lower:
        for q in SCARE_QUOTE_RE.finditer(lower):
            if CLAIM_RE.search(q.group(1)) and (trouble or SO_CALLED_RE.search(lower)):
                return q.group(0)
    return None


def _label(pol: float, n_cues: int) -> tuple[str, float]:
    """Map polarity to a label; confidence grows with the margin past the threshold and the evidence seen."""
    if pol <= NEG_THRESHOLD:
        margin = (NEG_THRESHOLD - pol) / (1.0 + NEG_THRESHOLD)
        return "negative", round(min(1.0, 0.55 + 0.45 * margin + 0.05 * n_cues), 3)
    if pol >= POS_THRESHOLD:
        margin = (pol - POS_THRESHOLD) / (1.0 - POS_THRESHOLD)
        return "positive", round(min(1.0, 0.55 + 0.45 * margin + 0.05 * n_cues), 3)
    # Neutral is most certain at zero polarity and fades towards either threshold.
    edge = POS_THRESHOLD if pol > 0 else -NEG_THRESHOLD
    return "neutral", round(max(0.3, 0.75 - 0.4 * abs(pol) / edge), 3)
