"""English rule lexicons (folded text: lower case, no accents, ASCII apostrophes)."""

# --- sourcing: buying, selling, asking for drugs or someone else's prescription ------------------------

SOURCING = {
    # Street and pharmacy names. Ambiguous everyday words ("ice", "tar", "blow", "bud") are left out.
    "drug": [
        r"dope", r"heroin", r"fent(?:anyl|y)?", r"fetty", r"china white", r"coke", r"cocaine", r"crack",
        r"meth", r"crystal meth", r"tina", r"shards?", r"molly", r"mdma", r"ecstasy", r"acid", r"lsd", r"shrooms",
        r"ket(?:amine)?", r"xans?", r"xanax", r"xannies", r"bars", r"benzos?", r"klonopin", r"k-?pins", r"valium",
        r"percs?", r"percocets?", r"m-?30s?", r"(?:pressed|perc|oxy|blue)\s?30s", r"pressies", r"blues", r"oxys?", r"oxycodone", r"oxycontin", r"roxys?", r"roxies",
        r"roxicodone", r"vicodin", r"hydros?", r"hydrocodone", r"norcos?", r"dilaudid", r"opanas?", r"adderall",
        r"addys?", r"addies", r"vyvanse", r"ritalin", r"weed", r"carts", r"dabs", r"lean", r"codeine",
        r"promethazine", r"gabapentin", r"gabbies", r"tramadol", r"morphine", r"opiates?", r"opioids?", r"pills",
        r"pain ?(?:pills|meds|killers)", r"narcotics", r"drugs", r"speed", r"tranq", r"xylazine",
    ],
    # Medications for opioid use disorder: asking where to get them is usually asking for treatment.
    "moud": [r"subs", r"suboxone", r"subutex", r"zubsolv", r"bupe", r"buprenorphine", r"methadone",
             r"naltrexone", r"vivitrol", r"sublocade"],
    # Words allowed between a verb and the drug it governs ("get SOME PRESSED bars").
    "filler": [r"some", r"any", r"a", r"an", r"the", r"my", r"your", r"his", r"her", r"their", r"extra", r"spare",
               r"few", r"couple", r"of", r"more", r"good", r"real", r"legit", r"cheap", r"pressed", r"leftover",
               r"left over", r"unused", r"old", r"little", r"bit", r"bunch", r"\d{1,4}(?:mg|s)?", r"mg", r"with",
               r"clean", r"fire", r"pure", r"me", r"us"],
    # Asking to obtain: followed by the drug (through fillers only).
    "ask": [
        r"(?:where|how)\s+(?:can|could|do|would|should)\s+(?:i|we|one|someone|u)\s+(?:get|find|buy|cop|score|grab|"
        r"order|pick up)(?!\s+(?:off|clean|sober|rid|help|through|over|away|out|better|back))",
        r"(?:where|how)\s+to\s+(?:get|find|buy|cop|score|grab|order)(?!\s+(?:off|clean|sober|rid|help))",
        r"(?:anyone|anybody|somebody|someone|who|who'?s|y'?all|u)\s+(?:here\s+|local\s+|nearby\s+|around\s+here\s+)?"
        r"(?:got|have|has|selling|sells?|holding|"
        r"able to get|can get|could get|know where to get)(?:\s+a\s+line\s+on)?",
        r"(?:where|how)\s+(?:do|does|can|could)\s+(?:people|you|ya|y'?all|u guys|folks)\s+(?:get|find|buy|cop|score)",
        r"(?:find|looking\s+for|need)\s+(?:someone|somebody|anyone|a\s+guy)\s+(?:with|who\s+has|that\s+has)",
        r"(?:anyone|anybody|who)(?!\s+else\b)(?:\s+[\w']{1,20}){0,3}?\s+wants?",
        r"looking\s+(?:for|to\s+(?:buy|get|cop|score|grab))",
        r"(?:i|i'm|im|i am)?\s*(?:need|needs|want|wanna|trying to|tryna)\s+(?:to\s+)?(?:get|find|buy|cop|score|grab|"
        r"pick up)(?!\s+(?:off|clean|sober|rid|help|through|over|away|out|better|back))",
        r"(?:can|could|will)\s+(?:someone|anyone|somebody|you|u)\s+(?:get|hook|sell|front|spot)\s+me(?:\s+up)?"
        r"(?:\s+with)?",
        r"(?:who|anyone|anybody)\s+(?:can|could|will|would)\s+(?:sell|get|front|spot)",
        r"(?:need|want|looking\s+for)\s+(?:someone|somebody|anyone|a\s+guy)\s+(?:to|who\s+can|that\s+can)\s+"
        r"(?:get|sell|find|front)",
        r"hook\s+(?:me|us)\s+up\s+with", r"buy(?:ing)?", r"cop(?:ping)?", r"score", r"wtb", r"iso",
        r"(?:hookup|hook-up|plug|connect|connection|source|dealer|guy|link)\s+(?:for|on|with)",
    ],
    # Offering or selling: followed by the drug, or the drug followed by an "offer_after".
    "offer": [
        r"selling", r"sell(?:s)?", r"for sale", r"wts", r"(?:i|we)\s+(?:can|could)\s+(?:get|hook)\s+(?:you|u|ya|"
        r"anyone|y'?all)(?:\s+up)?(?:\s+with)?",
        r"(?:who|that)\s+(?:can|could)\s+get", r"trad(?:e|ing)", r"ship(?:ping)?",
        r"(?:can|could)\s+get\s+(?:you|u|ya|y'?all|anyone|anybody)",
        r"(?:dm|pm|hmu|text|message|hit)\s+(?:me\s+)?(?:up\s+)?for\s+(?:pricing|prices|the\s+menu|menu|info)\s+on",
    ],
    # Offers that need a price, hand-off or app beside them ("I have extra pills" may be a disposal question;
    # "need dope so bad" is a craving shared, unless a meeting or a price comes with it).
    "offer_weak": [r"(?:got|have|has)\s+(?:\d{1,4}\s+)?(?:extra|spare|plenty of|a lot of|tons of|some)",
                   r"(?:need|needs|want|wants|wanna)"],
    # A listing: this verb and a drug in one sentence, in any order ("60 extra oxy, selling cheap").
    "listing": [r"selling", r"for sale", r"wts", r"vendo", r"se vende", r"a la venta"],
    "offer_after": [r"for sale", r"available", r"in stock", r"shipped", r"\$\s?\d{1,5}", r"\d{1,5}\s*(?:each|ea)",
                    r"to sell", r"to trade", r"on hand"],
    # Trade talk that is sourcing on its own.
    "street": [
        r"who'?s\s+(?:holding|holdin)(?!\s+(?:the|a|an|my|your|his|her|their|our|this|that|it|up|on|out|space|hands|"
        r"down|back|onto|off|court|auditions?|the door))",
        r"(?:anyone|anybody)\s+(?:holding|holdin)(?:\s*[?]|\s+(?:in|near|around|tonight|rn|today))",
        r"wtb", r"wts", r"need\s+(?:a|my|some|new)\s+(?:plug|connect|hookup|dealer|source)",
        r"(?:looking for|got|have|know)\s+(?:a|my|the)\s+(?:plug|connect)", r"plug\s+me", r"taking\s+orders",
        r"(?:plug|connect)\s+needed", r"re-?up(?:ping)?", r"front\s+(?:me|us)",
        r"discreet\s+(?:shipping|delivery|packaging)", r"ship(?:ped|ping|s)?\s+(?:anywhere|discreetly|worldwide|"
        r"nationwide)",
        r"(?:i'?ve|i have|i)\s+(?:got|know)\s+a\s+guy\s+(?:who|that)", r"to\s+get\s+well(?!\s+soon)",
    ],
    # How the hand-off happens: contact, meeting, shipping, payment apps.
    "handoff": [
        r"dm(?:\s+me)?", r"pm(?:\s+me)?", r"hmu", r"hit\s+me\s+up", r"message\s+me", r"text\s+me", r"inbox\s+me",
        r"send\s+me\s+a\s+(?:dm|message|pm|text)", r"contact\s+me", r"hit\s+my\s+line", r"(?:local\s+)?pick\s*-?up",
        r"(?:can|could|will)\s+meet", r"meet\s+(?:up|near|at|in)", r"deliver(?:y|ing)?", r"drop\s*-?off",
        r"cash\s*app", r"venmo", r"zelle", r"paypal", r"bitcoin", r"btc", r"crypto", r"near me",
    ],
    # Messaging apps dealers use; a handle is the app beside a name or "on/add me".
    "app": [r"telegram", r"tele", r"tg", r"snap(?:chat)?", r"wickr(?:\s+me)?", r"signal", r"kik", r"whatsapp",
            r"session", r"threema", r"discord", r"insta(?:gram)?", r"ig"],
    "app_lead": [r"on", r"via", r"add\s+me\s+on", r"find\s+me\s+on", r"hit\s+me\s+(?:up\s+)?on", r"my",
                 r"message\s+me\s+on", r"reach\s+me\s+on"],
    "price": [
        r"\$\s?\d{1,5}", r"\d{1,5}\s?\$", r"\d{1,5}\s*(?:dollars|bucks|usd)", r"\d{1,4}\s*(?:each|ea|a pop|apiece|"
        r"a piece)", r"(?:have|got|paying|pay|with)\s+cash", r"cash\s+only", r"will\s+pay", r"(?:selling|going)\s+"
        r"(?:cheap|fast)", r"pay\s+(?:whatever|"
        r"anything|good|top|well)", r"(?:cheap|best|good)\s+prices?",
    ],
    "quantity": [r"\d{1,4}\s*(?:g|grams?|gs|oz|ounces?|zips?|points?|mg|mgs|tabs|ml)", r"g'?s", r"an?\s+(?:eighth|ounce|zip|"
                 r"gram|ball|bundle|brick|point)", r"eight\s*ball", r"half\s+(?:zip|ounce|oz)", r"\d{2}s"],
    # Someone else's prescription, or tricks to obtain one.
    "diversion": [
        r"(?:without|w/o|no)\s+(?:a\s+)?(?:prescription|script|rx)", r"(?:someone(?:\s+else)?'?s|your|their|his|her)"
        r"\s+(?:[a-z]{2,15}\s+)?(?:prescription|script|rx|extra meds|extra pills)", r"(?:sell|give|spare|trade)\s+(?:me\s+)?"
        r"(?:some\s+of\s+)?(?:your|their|his|her)\s+(?:prescription|script|meds|pills)",
        r"(?:fake|forged?|forging)\s+(?:a\s+)?(?:prescription|script|rx)", r"doctor\s+shop(?:ping)?",
        r"what\s+(?:to|should\s+i|do\s+i)\s+(?:say|tell)\s+(?:to\s+)?(?:the|my|a)\s+doctor\s+to\s+(?:get|prescribe)",
        r"(?:get|convince|trick)\s+(?:a|the|my)\s+doctor\s+(?:in)?to\s+(?:prescribe|give)", r"pill\s+mill",
    ],
    # Harm reduction and treatment: masked before drugs are looked for.
    "safe": [
        r"(?:(?:fentanyl|fent|xylazine|drug|benzo|tranq)\s+)?test(?:ing)?\s+strips?", r"narcan", r"naloxone",
        r"kloxxado", r"zimhi", r"(?:needle|syringe)\s+(?:exchange|services?|program)s?",
        r"(?:suboxone|methadone|bupe|buprenorphine|subs|sublocade|vivitrol|naltrexone)\s+(?:doctor|doc|clinic|"
        r"program|provider|prescriber|treatment|induction|maintenance|taper|dose|dosing)s?",
        r"(?:drug|alcohol)\s+(?:treatment|rehab|counseling|court|program|test(?:ing)?|screen(?:ing)?)",
        r"(?:drugs?|pills?)\s+(?:test|screen)s?", r"drug[- ]free", r"medication[- ]assisted\s+treatment",
    ],
    # Telling how one used to deal or buy.
    "past": [r"used\s+to", r"back\s+when", r"when\s+i\s+was", r"years?\s+ago", r"months?\s+ago", r"back\s+then",
             r"i\s+was\s+a\s+(?:dealer|plug)", r"in\s+my\s+(?:using|active|drinking)\s+(?:days|years|addiction)",
             r"(?:old|former|ex)\s+dealer", r"(?:deleted|blocked)\s+(?:my|his|her|the)\s+(?:dealer|plug|connect)",
             r"i\s+(?:sold|bought|copped|scored)", r"(?:clean|sober)\s+(?:for|since)",
             r"(?:i|we|he|she|they)\s+(?:was|were)\s+(?:buying|selling|dealing|copping|scoring|using)"],
    "present": [r"now", r"today", r"tonight", r"again", r"still", r"rn", r"right now"],
    # Right before an ask or offer, someone else is its subject ("my brother sells weed"): a report about
    # them, not a solicitation, unless a hand-off, handle or price comes with it.
    "third_party": [r"(?:he|she|they|he's|she's|they're|my\s+\w{2,15}|his\s+\w{2,15}|her\s+\w{2,15}|"
                    r"their\s+\w{2,15})\s+(?:is\s+|was\s+|are\s+|were\s+|keeps\s+|still\s+|always\s+)?"],
    # Before an ask or offer, these deny it ("I'm not buying pills anymore").
    "negation": [r"not", r"never", r"\w{1,6}n't", r"no longer", r"stop(?:ped)?", r"quit"],
}

# --- abuse: insults, slurs and harassment aimed at someone; threats -------------------------------------

ABUSE = {
    # Words that aim a sentence at a person (second person, @mention, "all you ...").
    "target": [r"you", r"you'?re", r"your", r"yours", r"yourself", r"u", r"ur", r"ya", r"y'?all", r"@\w{2,30}"],
    "insult": [
        r"idiots?", r"stupid", r"moron(?:s|ic)?", r"losers?", r"pathetic", r"worthless", r"trash", r"garbage",
        r"scum(?:bag)?s?", r"subhuman", r"vermin", r"whores?", r"sluts?", r"bitch(?:es)?", r"cunts?", r"retard(?:ed|s)?",
        r"dumb(?:ass)?", r"assholes?", r"bastards?", r"piece of (?:shit|crap|garbage|trash)", r"liars?", r"freaks?",
        r"junkies?", r"crackheads?", r"methheads?", r"tweakers?", r"druggies?", r"dopeheads?", r"pillheads?",
        r"drunks?", r"waste of (?:space|air|oxygen)", r"disgusting", r"useless", r"failures?", r"parasites?",
        r"degenerates?", r"fuck(?:ing)?\s+(?:you|off)", r"shut\s+(?:the\s+fuck\s+)?up", r"go\s+to\s+hell",
    ],
    # The speaker is the one insulted ("I'm such an idiot"), or the insult is denied ("you're not a loser").
    "self": [r"(?:i'?m|i am|im|i was|i feel|i felt|i've been|call(?:ed|ing)? myself|me)\s+(?:such\s+|so\s+|a\s+|an\s+|"
             r"like\s+|like\s+a\s+|a\s+total\s+|the\s+biggest\s+){0,2}"],
    "negation": [r"not", r"\w{1,6}n't", r"never", r"ain't", r"nobody thinks", r"no one thinks", r"stop calling yourself",
                 r"stop saying (?:you'?re|your)"],
    # Harassment that is abuse on its own: telling someone to die, relapse or leave.
    "harassment": [
        r"kys", r"kill\s+yourself", r"go\s+(?:die|overdose|od)", r"(?:hope|wish)\s+(?:you|u)\s+(?:die|od|overdose|"
        r"relapse|rot)", r"(?:you|u)\s+should\s+(?:just\s+)?(?:die|od|overdose|relapse|kill yourself)",
        r"do\s+(?:the\s+world|us\s+all|everyone)\s+a\s+favou?r\s+and\s+(?:die|disappear|od|overdose|kill yourself|"
        r"leave)", r"(?:nobody|no one)\s+(?:wants|likes|cares about|needs)\s+(?:you|u)(?:\s+here)?",
        r"just\s+relapse\s+already", r"(?:you|u)\s+deserve\s+to\s+(?:relapse|die|od|overdose|suffer|rot)", r"(?:you|u)(?:'ll| will)\s+(?:always\s+)?(?:be\s+a\s+junkie|relapse|never "
        r"change)",
    ],
    # A group of people in recovery dehumanised ("junkies are subhuman").
    "group": [r"(?:junkies|addicts|crackheads|methheads|tweakers|druggies|alcoholics|drunks)\s+(?:are|r)\s+"
              r"(?:all\s+)?(?:trash|subhuman|vermin|animals|scum|garbage|worthless|parasites)",
              r"(?:junkies|addicts|crackheads|methheads|tweakers|druggies)\s+(?:should|deserve\s+to)\s+(?:all\s+)?die"],
    # Threats of violence against someone.
    "threat": [
        r"(?:i'?ll|i will|i'?m\s+(?:going|gonna)\s+to|i'?m\s+gonna|gonna)\s+(?:kill|hurt|beat|break|stab|shoot|find|"
        r"smash|end|fuck\s+up|beat\s+up|cut)\s+(?:you|u|your|ya)\b",
        r"(?:i|we)\s+know\s+where\s+(?:you|u)\s+(?:live|work|sleep|park|go\s+to\s+(?:school|meetings?))",
        r"watch\s+your\s+back",
        r"(?:you|u)(?:'re|\s+are)\s+(?:dead|gonna\s+die|going\s+to\s+die|finished)(?!\s+to\s+me)",
        r"(?:i'?ll|i will)\s+(?:come|show\s+up)\s+(?:to|at)\s+(?:your|ur)\s+(?:house|place|work|job|meeting)",
    ],
}

# --- privacy: what identifies a person ------------------------------------------------------------------

PRIVACY = {
    # Street suffixes (addresses need a number before the street name).
    "street_suffix": [r"street", r"st", r"avenue", r"ave", r"road", r"rd", r"boulevard", r"blvd", r"lane", r"ln",
                      r"drive", r"dr", r"court", r"ct", r"place", r"pl", r"way", r"terrace", r"ter", r"circle",
                      r"cir", r"highway", r"hwy", r"parkway", r"pkwy", r"trail", r"trl", r"square", r"sq"],
    "unit": [r"apt\.?", r"apartment", r"unit", r"suite", r"ste\.?", r"#", r"floor", r"fl\.?"],
    # Who a third party is to the author: the name after it is theirs.
    "relation": [r"sponsor", r"sponsee", r"ex", r"ex-?(?:wife|husband|boyfriend|girlfriend)", r"husband", r"wife",
                 r"boyfriend", r"girlfriend", r"partner", r"boss", r"manager", r"co-?worker", r"neighbou?r",
                 r"landlord", r"dealer", r"counselou?r", r"therapist", r"doctor", r"son", r"daughter", r"brother",
                 r"sister", r"mom", r"dad", r"mother", r"father", r"cousin", r"friend", r"roommate",
                 r"parole officer", r"probation officer", r"caseworker", r"case worker", r"nurse", r"teacher"],
    "possessive": [r"my", r"his", r"her", r"their", r"our"],
    "naming": [r"(?:his|her|their) name is", r"named", r"called", r"goes by", r"(?:whose )?name'?s"],
    # Where someone lives or stays: an address after these is personal; a meeting place is not.
    "residence": [r"my\s+(?:address|place|house|home|apartment|apt|flat|room)", r"i\s+(?:live|stay)", r"i'?m\s+(?:staying|living)",
                  r"we\s+live", r"come\s+(?:by|over|to)", r"visit\s+me", r"find\s+(?:me|him|her|them)\s+at",
                  r"(?:lives?|living|staying|stays)\s+(?:at|on)", r"(?:his|her|their)\s+(?:address|place|house|home|apartment)"],
    # Identifying details that make a named third party a doxxing case.
    "locator": [r"works? at", r"lives? (?:on|at|in)", r"drives? a", r"goes to", r"(?:his|her|their) (?:address|number|"
                r"phone|house|job|work|car|plate)"],
    "handle_lead": [r"(?:my|his|her|their)\s+(?:insta(?:gram)?|ig|snap(?:chat)?|telegram|tg|twitter|tiktok|facebook|fb|"
                    r"kik|discord|whatsapp|wickr|signal|threema|venmo|cash\s*app)(?:\s+(?:is|handle|name|id))?",
                    r"(?:add|follow|find|message|dm)\s+(?:me|him|her|them)\s+on\s+(?:insta(?:gram)?|ig|snap(?:chat)?|"
                    r"telegram|tg|twitter|tiktok|facebook|fb|kik|discord|whatsapp|wickr|signal)"],
    # Capitalised words that are not names.
    "not_names": [r"i", r"god", r"aa", r"na", r"ca", r"smart", r"recovery", r"higher", r"power", r"big", r"book",
                  r"step", r"steps", r"monday", r"tuesday", r"wednesday", r"thursday", r"friday", r"saturday",
                  r"sunday", r"january", r"february", r"march", r"april", r"may", r"june", r"july", r"august",
                  r"september", r"october", r"november", r"december", r"christmas", r"easter", r"thanksgiving",
                  r"the", r"a", r"an", r"and", r"but", r"so", r"he", r"she", r"they", r"we", r"it", r"my", r"his", r"her",
                  r"today", r"tonight", r"er", r"icu", r"dr", r"mr", r"mrs", r"ms", r"is", r"was", r"who", r"at",
                  r"in", r"on", r"from", r"with", r"to", r"for", r"of"],
}
