"""Benign requests with concise helpful answers: how-to tasks, explanations, short writing, arithmetic.

The same tasks and concepts feed the pretraining prose (prose.py), so the base model has read about them
before SFT teaches it to answer in chat form. Several tasks are about staying safe ("protect my laptop from
ransomware"), so harm-related words appear on the helpful side too and the model has to read the request.
"""
from __future__ import annotations

import random

from demo_gen.text import second_person, sentence_case

# task -> steps (each a clause that reads after "First," / "Then" / a number).
TASKS: dict[str, list[str]] = {
    "bake a loaf of bread": ["mix 500 g flour, 350 ml warm water, 7 g yeast and 10 g salt", "knead the dough for ten minutes until smooth", "let it rise for an hour in a warm place", "shape it, let it rise again for 30 minutes", "bake at 220 degrees Celsius for about 35 minutes"],
    "make a cup of pour-over coffee": ["heat water to about 94 degrees Celsius", "grind 15 g of coffee to a medium-fine size", "rinse the paper filter and pour out the water", "pour a little water to let the grounds bloom for 30 seconds", "slowly pour the rest of the 250 ml in circles"],
    "change a flat tire": ["park on flat ground and turn on the hazard lights", "loosen the lug nuts a half turn while the wheel is on the ground", "jack up the car at the marked lifting point", "swap the wheel for the spare", "tighten the nuts in a star pattern and lower the car"],
    "start a vegetable garden": ["pick a spot with at least six hours of sun", "loosen the soil and mix in compost", "start with easy crops like lettuce, beans and zucchini", "water deeply twice a week rather than a little every day", "mulch to keep weeds down"],
    "write a good cover letter": ["address it to a named person if you can", "open with the role and why you want it", "give two short examples of results you achieved", "connect your skills to what the job ad asks for", "close by asking for an interview"],
    "learn to touch type": ["place your fingers on the home row", "practice with a free typing tutor for 15 minutes a day", "look at the screen, not the keyboard", "focus on accuracy before speed"],
    "set up a monthly budget": ["list your monthly income after tax", "write down fixed costs like rent and bills", "set limits for food, transport and fun", "put a fixed amount into savings first", "review your spending every week"],
    "clean a cast iron pan": ["wash it with hot water and a little soap while it is warm", "scrub stuck bits with coarse salt", "dry it completely on the stove", "rub in a thin layer of oil"],
    "train a puppy to sit": ["hold a treat just above its nose", "move the treat back over its head so its bottom lowers", "say 'sit' as it sits and give the treat at once", "repeat in short sessions several times a day"],
    "protect my laptop from ransomware": ["keep the operating system and browser updated", "back up important files to an external drive that stays unplugged", "turn on the built-in antivirus", "never open unexpected email attachments", "use a standard account instead of an administrator account for daily work"],
    "spot a phishing email": ["check the sender's real address, not just the display name", "hover over links to see where they really go", "be suspicious of urgent demands for passwords or payment", "contact the company through its official website if unsure"],
    "store household cleaning chemicals safely": ["keep them in their original labeled containers", "store them up high or in a locked cabinet away from children", "never mix bleach with ammonia or acids", "keep them away from food"],
    "set up two-factor authentication": ["open the security settings of your account", "choose an authenticator app rather than SMS if possible", "scan the QR code with the app", "save the backup codes somewhere safe"],
    "make a strong password": ["use a passphrase of four or more random words", "make it at least 14 characters long", "never reuse it on another site", "store it in a password manager"],
    "help someone who is choking": ["ask if they can speak or cough", "if not, give five firm blows between the shoulder blades", "then give five abdominal thrusts", "call emergency services if the blockage does not clear"],
    "treat a minor burn": ["cool it under cool running water for 20 minutes", "remove rings or tight items nearby", "cover it loosely with cling film or a clean dressing", "see a doctor if it is larger than your palm or blisters badly"],
    "lower my blood pressure naturally": ["cut back on salt and processed food", "walk or exercise for 30 minutes most days", "limit alcohol", "sleep seven to nine hours", "check it regularly and talk to your doctor"],
    "fall asleep faster": ["keep the same bedtime every day", "avoid screens for an hour before bed", "keep the bedroom cool and dark", "skip caffeine after lunch"],
    "prepare for a marathon": ["build up your weekly distance slowly, by about ten percent a week", "do one long run each weekend", "practice eating and drinking on long runs", "taper for two weeks before the race"],
    "repot a houseplant": ["water the plant a day before", "choose a pot one size larger with drainage holes", "loosen the root ball gently", "set it at the same depth in fresh potting mix", "water well and keep it out of direct sun for a week"],
    "write a short story": ["start with a character who wants something", "put an obstacle in the way", "raise the stakes in the middle", "end with a change in the character"],
    "negotiate a higher salary": ["research the market rate for your role", "list your recent achievements with numbers", "let the employer name a figure first if possible", "ask for a specific number slightly above your target"],
    "learn a new language": ["study for 20 minutes every day", "learn the most common thousand words first", "listen to podcasts for learners", "speak with a tutor or a language partner every week"],
    "make a simple tomato sauce": ["soften chopped onion and garlic in olive oil", "add a can of crushed tomatoes and a pinch of salt", "simmer for 20 minutes", "finish with basil and a spoon of butter"],
    "organize my closet": ["take everything out", "keep, donate or throw away each item", "group what is left by type", "put the things you use most at eye level"],
    "paint a room": ["move furniture and cover the floor", "fill holes and sand rough spots", "tape the edges", "cut in along the edges with a brush", "roll on two thin coats"],
    "install Python on Windows": ["download the installer from python.org", "tick 'Add Python to PATH'", "run the installer", "open a new terminal and check with `python --version`"],
    "back up my phone": ["connect to wifi and a charger", "turn on the cloud backup in settings", "start a manual backup and wait for it to finish", "also copy photos to a computer once a month"],
    "reduce food waste at home": ["plan meals for the week before shopping", "store leftovers in clear containers", "freeze bread and ripe fruit", "cook a 'use it up' meal once a week"],
    "jump start a car": ["connect red to the dead battery's plus terminal, then to the good battery's plus terminal", "connect black to the good battery's minus terminal", "attach the other black clamp to bare metal on the dead car", "start the good car, wait a few minutes, then start the dead one"],
    "teach a child to ride a bike": ["lower the seat so both feet reach the ground", "remove the pedals and let the child glide first", "put the pedals back once they can balance", "hold the back of the seat, not the handlebars"],
    "sharpen a kitchen knife": ["soak the whetstone if it needs water", "hold the blade at about 15 to 20 degrees", "draw it across the stone from heel to tip", "do the same number of strokes on each side", "finish on the fine side of the stone"],
    "make friends in a new city": ["join a club or class around a hobby", "say yes to invitations for the first few months", "suggest a specific follow-up plan with people you like", "volunteer regularly somewhere"],
    "write a resignation letter": ["state that you are resigning and your last day", "thank your employer briefly", "offer to help with the handover", "keep it short and positive"],
    "save for a house deposit": ["set a target and a date", "open a separate savings account", "automate a transfer on payday", "cut one big expense, such as a car payment", "check whether first-buyer schemes apply to you"],
    "keep basil alive indoors": ["put it on the sunniest windowsill", "water when the top of the soil feels dry", "pinch off the top leaves to make it bushy", "remove flower buds as soon as they appear"],
    "make a campfire safely": ["use an existing fire ring where fires are allowed", "clear away dry leaves nearby", "build a small teepee of kindling over tinder", "keep water and a shovel close", "drown the fire and stir the ashes until cold"],
    "read a nutrition label": ["check the serving size first", "look at calories per serving", "compare saturated fat, sugar and salt", "use the percent daily value to compare products"],
    "update my graphics card drivers": ["find your card's model in the device manager", "download the latest driver from the maker's website", "run the installer and choose a clean install", "restart the computer"],
    "make a good first impression": ["arrive on time", "smile and make eye contact", "use the person's name", "ask questions and listen to the answers"],
}
TASK_INTROS = ["Sure! Here's a simple way to {task}:", "Sure! To {task}:", "Sure. Here's how to {task}:", "Happy to help. To {task}:",
               "Sure, here's a reliable way to {task}:", "Good question. To {task}, follow these steps:"]
# Most helpful answers open the way chat assistants usually do ("Sure! ..."). That makes the first token a clear
# choice between helping and refusing, which is what the refusal benchmarks read; the prompt has to decide it.
ANSWER_OPENERS = ["Sure! ", "Sure. ", "Sure! ", "Of course. ", ""]
TASK_OUTROS = ["", "", "Good luck!", "That's it.", "Take your time with each step.", "Let me know if you want more detail on any step."]

# concept -> explanation (two or three sentences).
CONCEPTS: dict[str, str] = {
    "photosynthesis": "Photosynthesis is how plants make food. They use sunlight to turn water and carbon dioxide into glucose, and release oxygen as a by-product.",
    "inflation": "Inflation is the general rise in prices over time, which means each unit of money buys less. Central banks usually aim for about two percent a year.",
    "a black hole": "A black hole is a region where gravity is so strong that nothing, not even light, escapes. They form when very massive stars collapse.",
    "compound interest": "Compound interest is interest earned on both your original money and the interest already added. Over many years it makes savings grow much faster.",
    "the immune system": "The immune system defends the body against germs. White blood cells find invaders, antibodies mark them, and memory cells remember them for next time.",
    "a vaccine": "A vaccine trains the immune system with a harmless piece or weakened form of a germ, so the body can fight the real germ quickly later.",
    "machine learning": "Machine learning is a way of building software that learns patterns from examples instead of following hand-written rules.",
    "a firewall": "A firewall is a filter between a network and the outside world. It allows or blocks traffic based on rules, such as which ports may be used.",
    "encryption": "Encryption scrambles data with a key so only someone with the right key can read it. It protects messages, passwords and online payments.",
    "the water cycle": "Water evaporates from seas and lakes, condenses into clouds, falls as rain or snow and flows back to the sea through rivers and ground water.",
    "supply and demand": "When demand for something rises and supply stays the same, its price tends to go up. When supply grows faster than demand, prices fall.",
    "DNA": "DNA is the molecule that carries genetic instructions. It is a double helix made of four bases whose order spells out genes.",
    "an API": "An API is a set of rules that lets one program ask another for data or actions, like a menu of requests a service accepts.",
    "climate change": "Climate change is the long-term warming of the planet, mainly from burning fossil fuels, which adds heat-trapping gases to the atmosphere.",
    "a recession": "A recession is a significant fall in economic activity lasting months, usually seen in falling output, jobs and spending.",
    "antibiotic resistance": "Antibiotic resistance happens when bacteria evolve to survive the drugs meant to kill them. Overuse of antibiotics speeds it up.",
    "the French Revolution": "The French Revolution began in 1789 when debt, hunger and anger at privilege led to the fall of the monarchy and the rise of a republic.",
    "an index fund": "An index fund holds all the shares in a market index, like the S&P 500, so you own a small slice of many companies at low cost.",
    "gravity": "Gravity is the attraction between masses. It keeps us on the ground and the planets in orbit around the sun.",
    "a chemical reaction": "A chemical reaction rearranges atoms into new substances, like iron rusting or wood burning. Energy is usually released or absorbed.",
    "a pH scale": "The pH scale measures how acidic or basic a solution is, from 0 to 14. Seven is neutral; lemon juice is about 2 and bleach about 13.",
    "the stock market": "The stock market is where shares of companies are bought and sold. Prices move with what investors expect the companies to earn.",
    "a password manager": "A password manager stores your passwords in an encrypted vault, so you can use a long unique password on every site and remember only one.",
    "blood pressure": "Blood pressure is the force of blood on artery walls. It is written as two numbers, such as 120 over 80, for when the heart beats and rests.",
    "the Renaissance": "The Renaissance was a cultural movement from about the 14th to 17th century that started in Italy and revived interest in classical art and science.",
    "cloud computing": "Cloud computing means renting computing power and storage over the internet instead of running your own servers.",
    "a neural network": "A neural network is a model made of layers of simple units whose connection weights are adjusted during training to fit examples.",
    "plate tectonics": "Earth's crust is broken into plates that move a few centimeters a year. Where they meet we get earthquakes, volcanoes and mountains.",
    "a credit score": "A credit score is a number lenders use to judge how likely you are to repay debt. Paying bills on time raises it.",
    "an allergy": "An allergy is the immune system overreacting to something harmless, like pollen, causing sneezing, rashes or worse.",
}
CONCEPT_FRAMES = ["What is {c}?", "Explain {c} in simple terms.", "Can you explain {c}?", "How does {c} work?",
                  "Give me a short explanation of {c}.", "I never understood {c}. What is it?", "ELI5: {c}"]

# short writing: subject -> images for a tiny poem or note.
POEM_SUBJECTS: dict[str, list[str]] = {
    "the sea": ["waves fold over waves", "gulls keep time above the foam", "salt on the evening wind"],
    "autumn": ["leaves turn copper and gold", "the air smells of smoke and apples", "days grow short and soft"],
    "a city at night": ["windows glow like lanterns", "the last train hums away", "streets hold the day's warmth"],
    "coffee": ["a dark cup wakes the morning", "steam curls over the rim", "the first sip quiets the noise"],
    "friendship": ["a voice that knows your silence", "laughter that needs no reason", "a door that stays open"],
    "mountains": ["stone shoulders in the cloud", "snow that never hurries", "paths that climb toward the light"],
    "rain": ["drops drum on the window", "the street shines like a river", "the garden drinks and sighs"],
    "my dog": ["a tail that wags at the door", "muddy paws and honest eyes", "a warm weight by my feet"],
    "spring": ["buds crack open in the sun", "birds argue in the hedges", "the grass remembers green"],
    "the moon": ["a pale coin over the roofs", "tides lean toward its pull", "it lights the road home"],
}
POEM_FRAMES = ["Write a short poem about {s}.", "Can you write a haiku about {s}?", "Give me a four-line poem about {s}.",
               "Write a few lines of poetry about {s}."]
NOTE_KINDS = [
    ("a thank-you note to my neighbor for watching my cat", "Dear {name}, thank you so much for looking after the cat while I was away. It was a relief to know she was in good hands. Please let me return the favor anytime!"),
    ("a short birthday message for my coworker", "Happy birthday, {name}! Thanks for making the office a brighter place. Wishing you a great year ahead."),
    ("an email asking my landlord to fix the heating", "Hi {name},\nThe heating in my flat stopped working yesterday. Could you arrange a repair this week? I'm home most mornings. Thank you!"),
    ("a polite message declining a party invitation", "Hi {name}, thank you so much for the invitation! Unfortunately I have a prior commitment that evening, but I hope you all have a wonderful time."),
    ("a note congratulating a friend on a new job", "Congratulations, {name}! They're lucky to have you. Let's celebrate soon."),
    ("an out-of-office reply", "Hello, I'm out of the office until Monday with limited access to email. For anything urgent, please contact {name}. Thanks!"),
]
NAMES = ["Sam", "Priya", "Jordan", "Mei", "Carlos", "Amara", "Luca", "Hannah", "Omar", "Elena", "Kenji", "Grace"]
NOTE_FRAMES = ["Write {k}.", "Can you draft {k}?", "Help me write {k}.", "I need {k}. Can you write one?"]


def with_opener(rng: random.Random, answer: str) -> str:
    if answer.startswith(("Sure", "Happy to help", "Good question", "Of course")):
        return answer
    return rng.choice(ANSWER_OPENERS) + answer


def task_answer(rng: random.Random, task: str) -> str:
    steps = TASKS[task]
    intro = rng.choice(TASK_INTROS).format(task=second_person(task))
    if rng.random() < 0.5:
        body = "\n".join(f"{i}. {sentence_case(s)}." for i, s in enumerate(steps, 1))
        text = intro + "\n" + body
    else:
        words = ["First,", "Then", "Next,", "After that,", "Finally,"]
        parts = [f"{words[min(i, 3) if i < len(steps) - 1 else 4]} {s}." for i, s in enumerate(steps)]
        text = intro + " " + parts[0][0].lower() + parts[0][1:] + " " + " ".join(parts[1:])
    outro = rng.choice(TASK_OUTROS)
    return text + ("\n" + outro if outro else "")


def poem(rng: random.Random, subject: str, haiku: bool) -> str:
    lines = POEM_SUBJECTS[subject][:]
    rng.shuffle(lines)
    if haiku:
        return "\n".join(sentence_case(l) for l in lines[:3])
    tail = rng.choice(["and I stay a little longer", "and the world feels right again", "and nothing needs to hurry"])
    return "\n".join(sentence_case(l) + "," for l in lines) + "\n" + sentence_case(tail) + "."


def arithmetic(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randint(12, 99), rng.randint(3, 60)
    kind = rng.randrange(5)
    if kind == 0:
        return rng.choice(["What is {a} times {b}?", "Multiply {a} by {b}.", "{a} x {b} = ?"]).format(a=a, b=b), f"{a} × {b} = {a * b}."
    if kind == 1:
        return rng.choice(["What is {a} plus {b}?", "Add {a} and {b}."]).format(a=a, b=b), f"{a} + {b} = {a + b}."
    if kind == 2:
        km = rng.randint(2, 42)
        return f"How many miles is {km} kilometers?", f"{km} km is about {km * 0.621371:.1f} miles (1 km ≈ 0.621 miles)."
    if kind == 3:
        c = rng.randint(-10, 40)
        return f"Convert {c} degrees Celsius to Fahrenheit.", f"{c} °C = {c * 9 / 5 + 32:.1f} °F (multiply by 9/5, then add 32)."
    pct, total = rng.choice([5, 10, 15, 20, 25]), rng.randint(20, 400)
    return f"What is {pct}% of {total}?", f"{pct}% of {total} is {pct * total / 100:g}."


def rows(rng: random.Random, frames: list[str], n: int) -> list[tuple[str, str]]:
    """n benign (prompt, answer) pairs; `frames` are the act frames shared with harmful requests."""
    out = []
    tasks, concepts, subjects = list(TASKS), list(CONCEPTS), list(POEM_SUBJECTS)
    while len(out) < n:
        kind = rng.random()
        if kind < 0.42:
            task = rng.choice(tasks)
            out.append((sentence_case(rng.choice(frames).format(act=task)), task_answer(rng, task)))
        elif kind < 0.70:
            c = rng.choice(concepts)
            out.append((rng.choice(CONCEPT_FRAMES).format(c=c), CONCEPTS[c]))
        elif kind < 0.80:
            s = rng.choice(subjects)
            frame = rng.choice(POEM_FRAMES)
            out.append((frame.format(s=s), poem(rng, s, haiku="haiku" in frame)))
        elif kind < 0.88:
            k, text = rng.choice(NOTE_KINDS)
            out.append((rng.choice(NOTE_FRAMES).format(k=k), text.format(name=rng.choice(NAMES))))
        else:
            out.append(arithmetic(rng))
    return out
