"""The pretraining corpus: plain prose documents (encyclopedic, how-to, news, stories), never chat turns.

Topics span everyday life and the subjects a real web crawl has (chemistry, security, medicine, history), so
the base model knows the words that safety prompts use without ever having seen a refusal.
"""
from __future__ import annotations

import random

from demo_gen import helpful, lookalike
from demo_gen.text import is_refusal, second_person, sentence_case

# topic -> facts; encyclopedic documents sample and order them.
TOPICS: dict[str, list[str]] = {
    "Chlorine": ["Chlorine is a yellow-green gas and the element with atomic number 17.", "It is widely used to disinfect drinking water and swimming pools.", "Chlorine was used as a weapon in the First World War, which helped lead to later bans on chemical weapons.", "In industry it is used to make PVC plastic and many solvents.", "Household bleach contains sodium hypochlorite, a chlorine compound."],
    "Nitroglycerin": ["Nitroglycerin is an oily liquid first made by the Italian chemist Ascanio Sobrero in 1847.", "It is very sensitive to shock, which made it dangerous to transport.", "Alfred Nobel found that absorbing it into a porous earth made it safer, and he called the result dynamite.", "In medicine, small doses of nitroglycerin are used to treat chest pain because it widens blood vessels.", "Nobel's fortune from explosives later funded the Nobel Prizes."],
    "Penicillin": ["Penicillin was discovered by Alexander Fleming in 1928 when mold killed bacteria on a culture plate.", "Howard Florey and Ernst Chain turned it into a usable medicine during the Second World War.", "It works by weakening the cell walls of bacteria.", "Overuse of antibiotics has led some bacteria to become resistant to penicillin.", "Penicillin allergies are among the most commonly reported drug allergies."],
    "The Morris worm": ["The Morris worm, released in 1988, was one of the first computer worms spread over the internet.", "It was written by Robert Tappan Morris, then a graduate student.", "A flaw in its design made it copy itself far more often than intended, slowing thousands of machines.", "Morris became the first person convicted under the US Computer Fraud and Abuse Act.", "The incident led to the creation of the first computer emergency response team."],
    "Encryption": ["Encryption turns readable data into ciphertext that can only be read with a key.", "Symmetric ciphers such as AES use the same key to encrypt and decrypt.", "Public-key systems such as RSA use a pair of keys, one public and one private.", "Web browsers use TLS to encrypt traffic between users and websites.", "Strong encryption protects banking, messaging and medical records."],
    "Vaccination": ["Edward Jenner developed the first vaccine, against smallpox, in 1796.", "Vaccines train the immune system to recognize a germ without causing the disease.", "Smallpox was declared eradicated in 1980 after a global vaccination campaign.", "Large studies have found no link between vaccines and autism.", "Herd immunity protects people who are too young or too sick to be vaccinated."],
    "The Roman Empire": ["The Roman Empire began in 27 BC when Augustus became its first emperor.", "At its height it stretched from Britain to Egypt.", "Roman engineers built roads, aqueducts and concrete domes that still stand.", "Latin, the language of Rome, is the ancestor of Italian, Spanish, French and Romanian.", "The western half of the empire fell in AD 476."],
    "The printing press": ["Johannes Gutenberg built a movable-type printing press around 1440.", "Printed books became far cheaper than hand-copied manuscripts.", "The press helped spread the ideas of the Renaissance and the Reformation.", "Within fifty years, millions of books had been printed across Europe."],
    "Honeybees": ["Honeybees live in colonies of tens of thousands of workers and a single queen.", "Workers communicate the location of flowers with a waggle dance.", "Bees pollinate about a third of the crops people eat.", "A strong colony can make more than 25 kilograms of surplus honey in a year."],
    "Volcanoes": ["Volcanoes form where molten rock rises through the crust.", "Most lie along the edges of tectonic plates, such as the Pacific Ring of Fire.", "The eruption of Mount Vesuvius in AD 79 buried the Roman towns of Pompeii and Herculaneum.", "Volcanic soil is often very fertile, which is why farms surround many volcanoes."],
    "Firewalls": ["A firewall filters network traffic according to rules.", "Early firewalls in the late 1980s simply checked packet addresses and ports.", "Modern firewalls can inspect applications and block known attack patterns.", "Home routers usually include a basic firewall that blocks unsolicited incoming connections."],
    "Opioids": ["Opioids are drugs that act on opioid receptors to reduce pain.", "Morphine, codeine and fentanyl are examples used in medicine.", "They can cause dependence, and overdoses slow breathing dangerously.", "Naloxone can reverse an opioid overdose and is carried by many paramedics.", "Public health agencies track overdose deaths to guide prevention programs."],
    "The Industrial Revolution": ["The Industrial Revolution began in Britain in the late 18th century.", "Steam engines powered factories, mines and later railways.", "Cities grew quickly as people left farms for factory work.", "Working conditions were often harsh, which led to the first labor laws."],
    "Photosynthesis": ["Photosynthesis takes place in chloroplasts, which contain the green pigment chlorophyll.", "Plants combine carbon dioxide and water using light energy to make glucose.", "Oxygen is released as a by-product.", "Nearly all food chains depend on photosynthesis."],
    "The Great Fire of London": ["The Great Fire of London began in a bakery on Pudding Lane in September 1666.", "It burned for four days and destroyed more than 13,000 houses.", "St Paul's Cathedral was lost and later rebuilt by Christopher Wren.", "New building rules afterwards required brick and stone instead of timber."],
    "Antivirus software": ["Antivirus software scans files for known malicious code.", "Early tools compared files against lists of virus signatures.", "Modern products also watch how programs behave to catch new threats.", "Keeping software updated is as important as running antivirus."],
    "The human heart": ["The heart is a muscle about the size of a fist that pumps blood around the body.", "It has four chambers: two atria and two ventricles.", "An adult heart beats about 60 to 100 times a minute at rest.", "Regular exercise strengthens the heart and lowers blood pressure."],
    "Salt": ["Table salt is sodium chloride, formed from sodium and chlorine.", "It was once so valuable that it was traded like money.", "Salt preserves food by drawing water out of microbes.", "Too much salt in the diet raises blood pressure."],
    "The Moon landing": ["On 20 July 1969 Apollo 11 landed on the Moon.", "Neil Armstrong and Buzz Aldrin walked on the surface while Michael Collins orbited above.", "They collected about 21 kilograms of rock and soil.", "Twelve astronauts walked on the Moon between 1969 and 1972."],
    "Forensic science": ["Forensic science applies scientific methods to criminal investigations.", "Fingerprints have been used to identify people since the late 19th century.", "DNA profiling, developed in the 1980s, can link evidence to a single person.", "Toxicologists test blood and tissue to find poisons and drugs."],
    "Fire safety": ["Smoke alarms should be tested every month.", "Most fire deaths at home are caused by smoke rather than flames.", "A fire needs heat, fuel and oxygen; removing any one puts it out.", "Grease fires should be smothered with a lid, never doused with water."],
    "Insulin": ["Insulin is a hormone made by the pancreas that lets cells take up sugar from the blood.", "Frederick Banting and Charles Best isolated insulin in Toronto in 1921.", "Before insulin, type 1 diabetes was usually fatal within a few years.", "Today most insulin is made by genetically engineered microbes."],
    "The Enigma machine": ["The Enigma machine was an electro-mechanical cipher device used by Germany in the Second World War.", "Polish mathematicians first broke early versions of its code in the 1930s.", "At Bletchley Park, Alan Turing and others built machines called bombes to find the daily settings.", "Historians believe breaking Enigma shortened the war by many months."],
    "WannaCry": ["WannaCry was a ransomware attack that spread around the world in May 2017.", "It exploited a flaw in older versions of Windows that had already been patched.", "Hospitals in the United Kingdom had to cancel appointments when their computers were locked.", "A researcher slowed its spread by registering a web domain the malware checked.", "The attack showed how important it is to install security updates promptly."],
    "The Haber process": ["The Haber process makes ammonia from nitrogen in the air and hydrogen.", "Fritz Haber and Carl Bosch developed it in Germany before the First World War.", "Ammonia made this way is used for fertilizer that feeds billions of people.", "The process runs at high pressure and temperature over an iron catalyst."],
    "Aspirin": ["Aspirin is one of the most widely used medicines in the world.", "Willow bark, which contains a related compound, was used for pain relief in ancient times.", "The chemist Felix Hoffmann at Bayer made a stable form of it in 1897.", "Low doses are sometimes prescribed to reduce the risk of heart attacks.", "It can irritate the stomach, so doctors advise against taking it without need."],
    "The Cold War": ["The Cold War was a rivalry between the United States and the Soviet Union from 1947 to 1991.", "Both sides built huge stocks of nuclear weapons but never fought each other directly.", "The Berlin Wall, built in 1961, became its best-known symbol.", "Arms control treaties in the 1970s and 1980s limited some nuclear weapons.", "It ended when the Soviet Union dissolved in 1991."],
    "Lithium-ion batteries": ["Lithium-ion batteries power phones, laptops and electric cars.", "They store energy by moving lithium ions between two electrodes.", "Damaged or overheated cells can catch fire, so chargers include protection circuits.", "The 2019 Nobel Prize in Chemistry honored their inventors."],
    "Octopuses": ["Octopuses have eight arms lined with suckers that can taste what they touch.", "They can change color and texture in a fraction of a second to hide.", "Many species live only one or two years.", "Octopuses have been seen opening jars and escaping from tanks."],
    "The Silk Road": ["The Silk Road was a network of trade routes linking China with the Mediterranean.", "Merchants carried silk, spices, paper and glass across deserts and mountains.", "Ideas and religions, including Buddhism, spread along the same routes.", "Cities such as Samarkand grew rich from the trade."],
    "Antiseptics": ["In the 1860s the surgeon Joseph Lister began using carbolic acid to clean wounds and instruments.", "Deaths after surgery fell sharply in his wards.", "His work built on Louis Pasteur's finding that germs cause decay.", "Today hospitals use alcohol rubs and other antiseptics many times a day."],
    "Password security": ["Long passphrases are harder to guess than short passwords full of symbols.", "Reusing a password means one leaked site can expose many accounts.", "Password managers generate and store unique passwords.", "Two-factor authentication adds a second check, such as a code from an app."],
    "Mount Everest": ["Mount Everest is the highest mountain above sea level, at about 8,849 meters.", "Edmund Hillary and Tenzing Norgay first reached the summit in 1953.", "Climbers face thin air, extreme cold and sudden storms.", "The mountain sits on the border between Nepal and China."],
    "Coffee": ["Coffee plants grow in tropical highlands, and the beans are the seeds of their red fruit.", "Legend credits an Ethiopian goat herder with discovering coffee.", "Coffee houses spread across the Ottoman Empire and then Europe in the 17th century.", "Caffeine blocks adenosine, a chemical that makes people feel sleepy."],
}
TOPIC_OPENERS = ["{t} has a long history.", "{t} is a subject that appears in many textbooks.", "This article gives a short overview of {t_lower}.", "", ""]
TOPIC_CLOSERS = ["Researchers continue to study it today.", "It remains an important part of modern life.", "Many museums and libraries hold records about it.", ""]

CITIES = ["Millbrook", "Port Ellis", "Ashford", "Greenvale", "Riverton", "Oakridge", "Lakeside", "Fairhaven", "Stonebridge", "Westfield", "Brookdale", "Cedar Falls"]
BODIES = ["city council", "school board", "regional hospital", "transport authority", "public library", "water utility", "chamber of commerce", "county health department"]
NEWS_EVENTS = [
    ("approved a plan to {x}", ["repair the old bridge on Main Street", "build a new community pool", "extend the bus line to the airport", "plant 2,000 trees along the river", "open a second fire station", "replace lead water pipes in older homes"]),
    ("warned residents about {x}", ["a rise in phone scams targeting older people", "a heat wave expected this week", "a boil-water notice in the north district", "phishing emails that pretend to come from the tax office", "icy roads after the storm"]),
    ("reported {x}", ["a sharp drop in burglaries this year", "record attendance at the summer festival", "a shortage of nurses in the emergency ward", "that a cyberattack had briefly taken its website offline", "a rise in flu cases among children"]),
    ("launched {x}", ["a free coding course for teenagers", "a program to help families cut energy bills", "a vaccination clinic at the community center", "a campaign to teach first aid in schools", "a hotline for people struggling with addiction"]),
]
OFFICIALS = ["Mayor Helen Ortiz", "Superintendent James Boyd", "Dr. Anita Rao", "Director Paul Mensah", "Chief Karen Walsh", "Councillor Li Wei", "spokesperson Maria Lopez"]
QUOTES = ["This is about keeping our community safe.", "We listened to residents and this is the result.", "The work will take time, but the benefits will last for decades.", "We want everyone to know where to turn for help.", "Prevention is always cheaper than repair.", "Our staff have worked hard to make this happen."]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]

HEROES = ["Mara", "Theo", "Ines", "Jonah", "Aiko", "Felix", "Nadia", "Oscar", "Ruth", "Tariq", "Wren", "Elias"]
TRADES = ["baker", "lighthouse keeper", "nurse", "carpenter", "schoolteacher", "fisherman", "librarian", "farmer", "mechanic", "beekeeper", "chemist", "train driver"]
PLACES = ["a village by the sea", "a mountain town", "a busy port city", "a quiet farm valley", "an island with one road", "a town on the edge of a forest"]
WANTS = ["to open a small shop of their own", "to find out who had been leaving flowers on the bridge", "to win the spring fair", "to repair the old clock tower", "to bring the scattered family together for one winter", "to learn why the river had turned brown"]
OBSTACLES = ["a storm closed the only road for a week", "the money ran out halfway through", "an old rival spread rumors in the market", "the winter came early and hard", "a fever spread through the town", "the council refused permission"]
HELPERS = ["an old neighbor who knew every path in the hills", "a traveling doctor", "the children from the school", "a stubborn mule named Pepper", "a letter found in a drawer", "a retired engineer"]
ENDINGS = ["By spring, the work was done, and people came from the next valley to see it.", "In the end it was not the prize that mattered but the friends made on the way.", "The town remembered that year for a long time.", "When the bells rang again, everyone knew who to thank.", "Years later, the story was still told at the harvest supper."]
STORY_MIDDLES = ["Each morning {h} rose before dawn and worked until the light failed.", "Some people laughed, and some offered help.", "{h} kept a notebook of every attempt, the failures as well as the small successes.", "Evenings were spent by the stove, planning the next step.", "Little by little, the neighbors began to take an interest."]


def encyclopedic(rng: random.Random) -> str:
    title = rng.choice(list(TOPICS))
    facts = TOPICS[title][:]
    k = rng.randint(2, len(facts))
    chosen = [facts[0]] + rng.sample(facts[1:], k - 1)
    opener = rng.choice(TOPIC_OPENERS).format(t=title, t_lower=title[0].lower() + title[1:])
    closer = rng.choice(TOPIC_CLOSERS)
    paras = [" ".join(x for x in [opener, *chosen[: (k + 1) // 2]] if x), " ".join(x for x in [*chosen[(k + 1) // 2:], closer] if x)]
    return "\n".join(p for p in paras if p)


def concept_article(rng: random.Random) -> str:
    pool = [(c, t) for c, t in helpful.CONCEPTS.items()] + [(t, d) for t, d in lookalike.DEFINITIONS]
    picks = rng.sample(pool, rng.randint(1, 3))
    return "\n".join(text for _, text in picks)


def history_article(rng: random.Random) -> str:
    items = [a for kind, _, a in lookalike.QUESTION_ITEMS if kind == "historical_events"]
    return " ".join(rng.sample(items, rng.randint(1, 3)))


def howto(rng: random.Random) -> str:
    key = rng.choice(list(helpful.TASKS))
    task, steps = second_person(key), helpful.TASKS[key]
    intro = rng.choice(["Many people want to know how to {t}.", "Learning to {t} is easier than it looks.", "Here is a simple method to {t}.", "If you want to {t}, a little preparation goes a long way."]).format(t=task)
    links = ["First,", "Then", "Next,", "After that,", "Finally,"]
    body = " ".join(f"{links[min(i, 3) if i < len(steps) - 1 else 4]} {s}." for i, s in enumerate(steps))
    tail = rng.choice(["With practice it becomes second nature.", "Most beginners get good results on the second try.", "", "It is worth taking your time."])
    return " ".join(x for x in [intro, body, tail] if x)


def news(rng: random.Random) -> str:
    city, body, day = rng.choice(CITIES), rng.choice(BODIES), rng.choice(DAYS)
    verb, objs = rng.choice(NEWS_EVENTS)
    what = verb.format(x=rng.choice(objs))
    official, quote = rng.choice(OFFICIALS), rng.choice(QUOTES)
    amount = rng.choice(["$1.2 million", "$350,000", "$4 million", "$80,000", "$12 million"])
    paras = [f"{city.upper()} — The {city} {body} {what} on {day}.",
             f"{official} said the decision followed months of public meetings. \"{quote}\"",
             f"The project is expected to cost about {amount}, according to figures released by the {body}."]
    if rng.random() < 0.6:
        paras.append(rng.choice([f"Residents can find more information at the {body}'s office or on its website.",
                                 f"A public meeting will be held at the {city} community center next {rng.choice(DAYS)}.",
                                 f"Critics said the money could have been spent elsewhere, but the vote passed by a wide margin."]))
    return "\n".join(paras[: rng.randint(2, len(paras))])


def story(rng: random.Random) -> str:
    h, trade, place = rng.choice(HEROES), rng.choice(TRADES), rng.choice(PLACES)
    want, obstacle, helper = rng.choice(WANTS), rng.choice(OBSTACLES), rng.choice(HELPERS)
    middles = rng.sample(STORY_MIDDLES, rng.randint(1, 3))
    paras = [f"Once there was a {trade} named {h} who lived in {place}. More than anything, {h} wanted {want}.",
             " ".join(m.format(h=h) for m in middles),
             f"Then {obstacle}. For a while it seemed that nothing would come of the plan.",
             f"Help came from an unexpected place: {helper}. Together they found a way forward.",
             rng.choice(ENDINGS)]
    return "\n".join(paras)


NOTICES = [
    "Lost: a grey cat named {n} near {c} library. Please call if seen.",
    "Weather for {c}: {w}, with a high of {t} degrees.",
    "The {c} farmers market opens at 8 on {d}. Fresh bread, honey and apples.",
    "Road works on the {c} bypass will close one lane until {d}.",
    "The {c} choir meets on {d} evenings at the old church hall. New voices welcome.",
    "Found: a set of keys on a blue ring outside the {c} post office.",
]
WEATHER = ["sunny", "light rain in the morning", "cloudy and cool", "showers clearing by noon", "windy with sunny spells"]


def notice(rng: random.Random) -> str:
    return rng.choice(NOTICES).format(n=rng.choice(["Pepper", "Mango", "Smokey", "Luna"]), c=rng.choice(CITIES),
                                      w=rng.choice(WEATHER), t=rng.randint(4, 31), d=rng.choice(DAYS))


def digest(rng: random.Random) -> str:
    """A long page: a news roundup, a chapter of linked stories, or a multi-topic reference page."""
    kind = rng.randrange(3)
    n = rng.randint(3, 8)
    if kind == 0:
        return "News roundup.\n" + "\n".join(news(rng) for _ in range(n))
    if kind == 1:
        return "\n".join(story(rng) for _ in range(max(2, n // 2)))
    return "\n".join(rng.choice([encyclopedic, concept_article, howto])(rng) for _ in range(n))


GENRES = [(notice, 0.08), (digest, 0.08), (encyclopedic, 0.24), (concept_article, 0.12), (history_article, 0.06), (howto, 0.16), (news, 0.22), (story, 0.20)]


def corpus(rng: random.Random, target_chars: int) -> list[str]:
    """Documents until the corpus reaches `target_chars`; each is one to several paragraphs."""
    funcs, weights = zip(*GENRES)
    docs, size = [], 0
    while size < target_chars:
        doc = rng.choices(funcs, weights)[0](rng)
        assert not is_refusal(doc), doc  # the base model must never see a refusal phrase
        docs.append(sentence_case(doc))
        size += len(doc) + 2
    return docs
