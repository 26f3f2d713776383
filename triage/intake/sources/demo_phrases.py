"""Phrase data for the demo source: people, slot fillers and text templates, all invented for triage.

Templates are `str.format` strings over the slots built in `demo.compose`; every intent lists its own so the
demo can say which kind of mention it meant to write.
"""
from __future__ import annotations

NETWORKS = ("x", "mastodon", "bluesky", "reddit", "instagram")
MASTODON_INSTANCES = ("mastodon.social", "fosstodon.org", "hachyderm.io", "mas.to", "mstdn.social")

# (display name, handle, followers on their main network, networks they post on). A handful are big accounts
# so the demo exercises reach-based prioritisation.
PEOPLE: tuple[tuple[str, str, int, tuple[str, ...]], ...] = (
    ("Dana Whitfield", "danaw", 412, ("x", "mastodon")),
    ("Marcus Oyelaran", "marcus_oye", 1_280, ("x", "instagram")),
    ("Priya Raman", "priyaraman", 233, ("bluesky", "x")),
    ("Tomasz Wierzbicki", "tomwierz", 87, ("reddit", "mastodon")),
    ("Lena Hoffmeister", "lenahoff", 3_410, ("instagram", "x", "bluesky")),
    ("Jordan Blake", "jblake_travels", 54_300, ("instagram", "x")),
    ("Aisha Karimi", "aishakarimi", 610, ("x",)),
    ("Ben Castellano", "bencastell", 145, ("reddit", "x")),
    ("Chloé Marchand", "chloemarchand", 920, ("instagram", "bluesky")),
    ("Owen Pritchard", "owenp", 38, ("mastodon", "bluesky")),
    ("Grace Nakamura", "gracenak", 2_050, ("x", "mastodon")),
    ("Rafael Duarte", "rafaduarte", 311, ("x", "instagram")),
    ("Sofia Lindqvist", "sofialind", 77, ("bluesky",)),
    ("The Frequent Flyer Desk", "ffdesk", 1_240_000, ("x", "bluesky")),
    ("Hannah Okafor", "hannahokafor", 505, ("x", "reddit")),
    ("Mateo Alvarez", "mateo_alv", 19, ("reddit",)),
    ("Nadia Petrova", "nadiapetrova", 1_730, ("instagram", "mastodon")),
    ("Chris Dunmore", "cdunmore", 260, ("x", "bluesky")),
    ("Yuki Tanabe", "yukitanabe", 88_900, ("instagram", "x")),
    ("Ellie Ashworth", "ellieash", 142, ("x",)),
    ("Samir Haddad", "samirhaddad", 398, ("mastodon", "x")),
    ("Kate Brennan", "katebrennan", 61, ("bluesky", "reddit")),
    ("Daniel Osei", "danosei", 2_870, ("x", "instagram")),
    ("Ingrid Solberg", "ingridsol", 455, ("mastodon",)),
    ("Leo Fischer", "leofischer", 12, ("reddit", "x")),
    ("Maya Goldberg", "mayagold", 730, ("instagram", "bluesky")),
    ("Patrick Keane", "pkeane", 205, ("x", "mastodon")),
    ("Amara Nwosu", "amaranwosu", 1_090, ("x", "bluesky")),
    ("Gate Lice Weekly", "gateliceweekly", 310_000, ("x", "mastodon", "bluesky")),
    ("Rosa Jiménez", "rosajimenez", 340, ("instagram",)),
    ("Victor Lindgren", "vlindgren", 57, ("reddit",)),
    ("Fatima Zahra", "fatimaz", 960, ("x", "instagram")),
    ("Sam Whitaker", "samwhitaker", 181, ("bluesky", "x")),
    ("Noor Aziz", "nooraziz", 2_400, ("instagram", "x")),
    ("Elias Brandt", "eliasbrandt", 73, ("mastodon", "reddit")),
    ("Tara Quinlan", "taraq", 5_600, ("x", "bluesky")),
    ("George Adeyemi", "georgeadeyemi", 129, ("x",)),
    ("Olivia Chen", "oliviachen_", 1_400_000, ("instagram", "x")),
    ("Ravi Menon", "ravimenon", 487, ("x", "mastodon")),
    ("Zoe Castillo", "zoecastillo", 44, ("bluesky", "instagram")),
)

# A person's audience differs by network; scaling keeps counts stable for the same (person, network).
NETWORK_REACH = {"x": 1.0, "mastodon": 0.3, "bluesky": 0.5, "reddit": 0.1, "instagram": 1.4}

CITIES = (
    "Lisbon", "Denver", "Oslo", "Manchester", "Toronto", "Lagos", "Singapore", "Dublin", "Phoenix", "Madrid",
    "Vancouver", "Nairobi", "Helsinki", "Austin", "Seattle", "Porto", "Reykjavik", "Boston", "Marseille", "Perth",
)
FEATURES = (
    "boarding pass", "seat map", "check-in screen", "wallet", "loyalty points page", "trip planner",
    "notifications", "login", "payment page", "baggage tracker", "chat support", "app update",
)
DEVICES = ("iPhone", "Pixel", "Android phone", "iPad", "Galaxy", "laptop")
STAFF = ("gate agent", "flight attendant", "check-in guy", "lady at the desk", "supervisor", "phone agent")
BAG_ITEMS = ("suitcase", "bag", "stroller", "guitar", "ski bag", "carry-on", "car seat")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
EMOJI_BAD = ("😡", "🙄", "😤", "🤬", "😩", "💀", "😭", "👎")
EMOJI_GOOD = ("🙌", "❤️", "✈️", "😍", "🙏", "👏", "💯", "☺️")
EMOJI_MEH = ("🤔", "😅", "👀", "🤷", "☕", "🧳", "")
OPENERS = {
    "complaint": ("", "", "", "ugh ", "wow. ", "unreal. ", "not gonna lie, ", "PSA: ", "update: ", "so "),
    "question": ("", "", "", "hi all, ", "quick one: ", "sorry if this is a dumb q but ", "so um ", "help? "),
    "praise": ("", "", "", "ok so ", "honestly ", "not gonna lie, ", "PSA: ", "update: "),
    "chatter": ("", "", "", "ok so ", "welp. ", "lol ", "random thought: ", "so um "),
    "urgent": ("", "", "PLEASE ", "help. ", "URGENT: ", "please someone read this. "),
}

TEMPLATES: dict[str, tuple[str, ...]] = {
    "complaint": (
        "{at} flight {flight} delayed AGAIN. {hours} hours at the gate in {city} and zero updates {emoji_bad}",
        "{brand} lost my {bag_item} on the way to {city}. three days, no call back. {tag}",
        "why did {brand} charge my card twice for the same booking?? {amount} gone x2 {at}",
        "the {brand} app crashes every time I open the {feature}. {device}, latest version. useless {emoji_bad}",
        "that {staff} in {city} was so rude to my mum today. unbelievable {at}",
        "{at} been on hold {mins} minutes. {mins} MINUTES. to change a seat.",
        "paid {amount} for extra legroom on {flight} and got put in a middle seat by the toilets {emoji_bad}",
        "cancelled {flight} with a 2 hour notice and the rebooking is for {day}?? {brand} pls",
        "{brand} wifi 'available on all flights' my foot. nothing worked {city} to {city2} {emoji_bad}",
        "my refund of {amount} has been 'processing' for six weeks {at} {tag}",
        "the {feature} in the {brand} app logged me out mid-booking and now the fare is {amount} higher",
        "{hours}h delay, no food vouchers, no info. {brand} you can do better {emoji_bad} {tag}",
        "{at} my {bag_item} came off the belt in {city} literally snapped in half",
        "{brand} billing just took {amount} for a 'seat fee' I never picked. give it back",
        "still waiting at baggage claim in {city}. {mins} min. belt stopped. no one around {emoji_bad}",
        "downgraded from the seat I paid for with no explanation. thanks {brand} {emoji_bad}",
        "the {brand} {feature} has been broken since the {day} update. fix it {at}",
        "crew on {flight} ignored the call button for the entire flight. cabin was boiling {emoji_bad}",
        "{at} your chat support bot keeps sending me in circles. i want a human",
        "why is the {brand} app asking me to log in EVERY time on my {device}?? {emoji_bad}",
        "overbooked {flight} and they bumped us, two kids, at 11pm in {city}. {tag}",
        "the {staff} told me the {bag_item} was fine and then charged me {amount} at the gate. {brand}??",
    ),
    "question": (
        "{at} what's the baggage allowance on a basic fare to {city}? can I bring a {bag_item}?",
        "hey {at} any idea how long refunds take? requested one on {day} for {flight}",
        "how do I add my loyalty number to a booking I already made in the {brand} app?",
        "{at} is {flight} to {city} on time tonight? app says one thing, board says another {emoji_meh}",
        "does anyone know if {brand} lets you bring a {bag_item} as cabin luggage? flying {day}",
        "{at} can I change the name on a ticket? booked my friend with a typo lol",
        "quick q {at}: how do I get a receipt for the {amount} seat upgrade? need it for expenses",
        "is the {brand} {feature} down for everyone or just me? {device} {emoji_meh}",
        "{at} do you do pet travel to {city}? small dog, like 6kg",
        "where do I see my refund status? cant find it anywhere in the app {at}",
        "how early does check-in open for {flight}? first time flying {brand} {emoji_meh}",
        "{at} will my connection in {city} be protected if the first leg is late?",
        "anyone flown {brand} premium to {city}? worth the {amount} extra?",
        "{at} how do I turn off the push notifications without turning off gate changes",
        "can i pay for a checked {bag_item} after check-in or only at the airport? {at}",
        "what happens to my points if I cancel the {city} trip? {at}",
        "{at} is there a way to request a wheelchair for my dad on {flight}?",
    ),
    "praise": (
        "huge thanks to the {brand} crew on {flight}, they were amazing with my nervous kid {emoji_good}",
        "{at} the {staff} in {city} sorted my rebooking in 5 minutes. legend {emoji_good}",
        "gotta say the new {brand} {feature} is actually really nice {emoji_good}",
        "early landing in {city} and my bag was first off?? who are you {brand} {emoji_good}",
        "shout out to the {staff} on {flight} who found my {device} under the seat {emoji_good} {at}",
        "flew {brand} {city} to {city2} {day}, smooth as anything. would recommend {emoji_good}",
        "{at} your support team fixed my double charge in one chat. thank you {emoji_good}",
        "the crew sang happy birthday to my grandma on {flight} and she cried. {brand} ❤️",
        "honestly {brand} has been my go-to for {city} trips for years. never let me down {emoji_good}",
        "refund of {amount} already back on my card. faster than promised, thanks {at}",
        "ok the {brand} app saved me today, gate change notification came before the announcement {emoji_good}",
        "recommend {brand} to anyone flying with kids. they let us board first and helped with the {bag_item}",
        "{at} whoever designed the new {feature}, give them a raise {emoji_good}",
        "best flight I've had in ages. {flight}, spotless cabin, friendly crew {emoji_good} {tag}",
        "my {bag_item} went missing and {brand} delivered it to my hotel in {city} the same night. respect",
    ),
    "chatter": (
        "sitting at gate 14 in {city} watching the {brand} planes come in {emoji_meh}",
        "anyone else collect those little {brand} biscuits? got 6 now {emoji_meh}",
        "the {brand} safety video with the dancing pilots is stuck in my head",
        "first time on {brand}, window seat secured, {city} here we come {emoji_meh}",
        "me refreshing the {brand} app every 30 seconds like it'll make the plane come faster {emoji_meh}",
        "{brand} vs the others for {city} trips, thoughts? just curious",
        "saw a {brand} plane with the new livery at {city} today, kinda slick {emoji_meh}",
        "travel day. coffee, {brand} boarding pass, {mins} min till boarding. {emoji_meh}",
        "my toddler now calls every plane 'a {brand}' lol",
        "thread of the weirdest things I've seen at {city} airport, starting with a guy carrying a {bag_item} full of cheese",
        "does the {brand} lounge in {city} still do the good pastries or did they change it",
        "booked {city} for {day}, anyone got food recs near the airport?",
        "the {brand} hold music is lowkey a banger {emoji_meh}",
    ),
    "urgent": (
        "{at} stuck on the tarmac in {city} for {hours} hours, no water, kids crying. SOMEONE ANSWER",
        "{at} my {brand} account got HACKED, someone booked flights to {city} on my card. please help now",
        "smoke smell in the cabin on {flight} and crew says it's 'normal'?? {at} this is a safety issue",
        "if {brand} doesn't refund the {amount} by {day} I'm taking legal action. done waiting.",
        "I'm going to the press with this. {brand} left a disabled passenger alone at the gate in {city} for {hours} hours",
        "{at} someone changed my email and password, I can't log in and there's a booking I didn't make",
        "URGENT {at} my 14yo is flying alone on {flight} and nobody at {city} knows where she is",
        "engine noise on {flight} sounded really wrong and they made us board anyway. {brand} is this safe?? {at}",
        "my lawyer will be in touch {brand}. {amount} in charges I never authorised {tag}",
        "{at} passenger collapsed on {flight}, crew was amazing but why was the defibrillator locked??",
        "phishing alert: fake {brand} site texting people for their login. i almost fell for it {at}",
        "journalist here, looking to talk to anyone stranded by {brand} in {city} tonight. DMs open",
        "{at} locked out of the cabin crew never came, turbulence, my mum fell. we need someone to call us",
    ),
}

HASHTAGS = {
    "complaint": ("#{brand}Fail", "#neveragain", "#travelfail", "#customerservice", ""),
    "question": ("#help", "#travel", ""),
    "praise": ("#{brand}", "#travel", "#goodservice", "#thankyou", ""),
    "chatter": ("#travel", "#avgeek", "#airportlife", ""),
    "urgent": ("#{brand}", "#safety", "#help", "#scam", ""),
}

# Brand replies answer earlier posts in the tone their intent calls for, signed with agent initials the way real
# care teams do.
_SORRY = (
    "Hi there, we're sorry to hear this. Could you send us a DM with your booking reference so we can look into it? ^{agent}",
    "We're really sorry about this. Our team is checking on it now and will update you shortly. ^{agent}",
    "That's not the experience we want for you. Please DM us your details and we'll get this sorted. ^{agent}",
    "So sorry for the trouble with the app. Could you tell us your device and app version via DM? ^{agent}",
)
REPLIES: dict[str, tuple[str, ...]] = {
    "complaint": _SORRY,
    "question": (
        "Hi! You can find that under Trips > Manage booking in the app. Let us know if it doesn't show up. ^{agent}",
        "Good question! Our baggage and fees page has the details for your fare. Happy to check your booking by DM. ^{agent}",
        "Thanks for asking. Please DM us your booking reference and we'll check that for you. ^{agent}",
    ),
    "praise": (
        "That's great to hear, thank you for flying with us! We'll pass your kind words on to the crew ✈️ ^{agent}",
        "Thank you so much for sharing this! Made our day 💙 ^{agent}",
    ),
    "chatter": (
        "Have a great trip! ✈️ ^{agent}",
        "We love to see it! Enjoy the flight 😊 ^{agent}",
    ),
    "urgent": (
        "We've escalated this to our specialist team, and someone will contact you directly today. ^{agent}",
        "This is urgent for us too. Please DM us a phone number and our duty manager will call you right away. ^{agent}",
        "Thanks for flagging this. We never ask for your password by text, so please don't click that link. ^{agent}",
        *_SORRY[:1],
    ),
}
AGENTS = ("JM", "RS", "AK", "TL", "PB", "CW")
