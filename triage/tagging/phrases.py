"""How people word complaints, praise and sarcasm about a brand: the phrases the sentiment and intent rules look for.

They hold for any brand or industry: service failures, frustration, gratitude, praise, sarcasm, emoji.
"""

from __future__ import annotations

import re


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
LITERAL_BEFORE_FOOT = frozenset(
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
