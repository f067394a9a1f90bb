"""The project-generated knowledge set: options-hidden general-knowledge questions, the default
helpfulness set (no download; deterministic order and option positions)."""

from __future__ import annotations

import random

from empirics.items import MultipleChoice

# (question, correct answer, three distractors). Options are asked "hidden": the model answers
# freely and we compare the probabilities of the options' first tokens, so those must differ
# (checked against the SmolLM2 tokenizer in tests/empirics/test_data.py). That is why plural
# distractors are other nouns rather than wrong forms ("Childs" shares "Child" with "Children").
_CAPITALS = [
    ("France", "Paris", "Lyon", "Marseille", "Nice"),
    ("Germany", "Berlin", "Munich", "Hamburg", "Frankfurt"),
    ("Italy", "Rome", "Milan", "Naples", "Turin"),
    ("Spain", "Madrid", "Barcelona", "Seville", "Valencia"),
    ("Japan", "Tokyo", "Osaka", "Kyoto", "Nagoya"),
    ("Russia", "Moscow", "Kazan", "Omsk", "Samara"),
    ("England", "London", "Manchester", "Birmingham", "Liverpool"),
    ("Egypt", "Cairo", "Alexandria", "Luxor", "Giza"),
    ("Canada", "Ottawa", "Toronto", "Vancouver", "Montreal"),
    ("Australia", "Canberra", "Sydney", "Melbourne", "Perth"),
    ("China", "Beijing", "Shanghai", "Guangzhou", "Wuhan"),
    ("Greece", "Athens", "Thessaloniki", "Patras", "Sparta"),
    ("Portugal", "Lisbon", "Porto", "Braga", "Faro"),
    ("Ireland", "Dublin", "Cork", "Galway", "Limerick"),
    ("Austria", "Vienna", "Salzburg", "Graz", "Linz"),
    ("Norway", "Oslo", "Bergen", "Trondheim", "Stavanger"),
    ("Sweden", "Stockholm", "Gothenburg", "Malmo", "Uppsala"),
    ("Kenya", "Nairobi", "Mombasa", "Kisumu", "Eldoret"),
    ("Peru", "Lima", "Cusco", "Arequipa", "Trujillo"),
    ("Argentina", "Buenos Aires", "Cordoba", "Rosario", "Mendoza"),
    ("Mexico", "Mexico City", "Guadalajara", "Tijuana", "Cancun"),
    ("Poland", "Warsaw", "Krakow", "Gdansk", "Poznan"),
    ("Turkey", "Ankara", "Istanbul", "Konya", "Bursa"),
    ("India", "New Delhi", "Mumbai", "Kolkata", "Chennai"),
    ("South Korea", "Seoul", "Busan", "Incheon", "Daegu"),
    ("Thailand", "Bangkok", "Phuket", "Chiang Mai", "Pattaya"),
    ("Cuba", "Havana", "Santiago", "Camaguey", "Holguin"),
    ("Hungary", "Budapest", "Debrecen", "Szeged", "Pecs"),
    ("Finland", "Helsinki", "Tampere", "Turku", "Oulu"),
    ("Denmark", "Copenhagen", "Aarhus", "Odense", "Esbjerg"),
]

_OPPOSITES = [
    ("hot", "cold", "warm", "big", "fast"),
    ("up", "down", "left", "over", "high"),
    ("big", "small", "tall", "wide", "heavy"),
    ("day", "night", "week", "sun", "morning"),
    ("fast", "slow", "quick", "late", "loud"),
    ("happy", "sad", "glad", "angry", "tired"),
    ("open", "closed", "wide", "empty", "locked"),
    ("light", "dark", "bright", "heavy", "soft"),
    ("old", "young", "ancient", "tall", "slow"),
    ("full", "empty", "heavy", "half", "round"),
    ("wet", "dry", "damp", "cold", "soft"),
    ("hard", "soft", "strong", "rough", "heavy"),
    ("early", "late", "soon", "fast", "first"),
    ("rich", "poor", "happy", "greedy", "famous"),
    ("win", "lose", "play", "tie", "score"),
    ("buy", "sell", "pay", "trade", "rent"),
    ("love", "hate", "like", "care", "fear"),
    ("push", "pull", "press", "lift", "throw"),
    ("true", "false", "real", "right", "honest"),
    ("inside", "outside", "under", "behind", "around"),
    ("black", "white", "red", "gray", "blue"),
    ("north", "south", "east", "west", "up"),
    ("start", "finish", "begin", "pause", "run"),
    ("thick", "thin", "wide", "heavy", "long"),
    ("clean", "dirty", "neat", "fresh", "wet"),
    ("strong", "weak", "tough", "brave", "heavy"),
    ("loud", "quiet", "noisy", "clear", "sharp"),
    ("above", "below", "beside", "over", "near"),
    ("friend", "enemy", "ally", "partner", "stranger"),
    ("arrive", "leave", "enter", "stay", "come"),
]

_ANIMAL_SOUNDS = [
    ("dog", "bark", "meow", "moo", "hiss"),
    ("cat", "meow", "bark", "quack", "roar"),
    ("cow", "moo", "bark", "neigh", "hoot"),
    ("duck", "quack", "moo", "roar", "bark"),
    ("lion", "roar", "quack", "meow", "oink"),
    ("pig", "oink", "roar", "meow", "neigh"),
    ("horse", "neigh", "oink", "quack", "bark"),
    ("owl", "hoot", "moo", "bark", "roar"),
    ("snake", "hiss", "moo", "quack", "neigh"),
    ("sheep", "baa", "roar", "hiss", "meow"),
    ("bee", "buzz", "moo", "bark", "neigh"),
    ("frog", "croak", "meow", "roar", "neigh"),
    ("rooster", "crow", "moo", "hiss", "bark"),
    ("wolf", "howl", "quack", "moo", "oink"),
    ("mouse", "squeak", "roar", "moo", "neigh"),
]

_ANIMAL_YOUNG = [
    ("dog", "puppy", "kitten", "calf", "foal"),
    ("cat", "kitten", "puppy", "cub", "lamb"),
    ("cow", "calf", "foal", "kitten", "puppy"),
    ("horse", "foal", "calf", "lamb", "kitten"),
    ("sheep", "lamb", "calf", "puppy", "foal"),
    ("bear", "cub", "lamb", "foal", "kitten"),
    ("frog", "tadpole", "kitten", "cub", "lamb"),
    ("goat", "kid", "cub", "foal", "puppy"),
    ("duck", "duckling", "kitten", "cub", "foal"),
    ("kangaroo", "joey", "kitten", "calf", "foal"),
    ("goose", "gosling", "puppy", "lamb", "cub"),
    ("owl", "owlet", "puppy", "calf", "foal"),
]

_COLORS = [
    ("the sky on a clear day", "blue", "green", "red", "yellow"),
    ("grass", "green", "blue", "red", "purple"),
    ("snow", "white", "black", "green", "red"),
    ("a ripe banana", "yellow", "blue", "purple", "black"),
    ("coal", "black", "white", "yellow", "green"),
    ("a ripe tomato", "red", "blue", "white", "purple"),
    ("an orange", "orange", "blue", "purple", "black"),
    ("milk", "white", "green", "red", "blue"),
    ("a lemon", "yellow", "blue", "purple", "black"),
    ("blood", "red", "green", "blue", "yellow"),
    ("the sun", "yellow", "green", "purple", "black"),
    ("a strawberry", "red", "blue", "green", "white"),
    ("chocolate", "brown", "green", "blue", "white"),
    ("a leaf in summer", "green", "blue", "white", "purple"),
    ("the ocean", "blue", "red", "yellow", "brown"),
    ("a carrot", "orange", "blue", "purple", "white"),
]

_PLURALS = [
    ("child", "children", "adults", "toys", "parents"),
    ("mouse", "mice", "rats", "cats", "holes"),
    ("man", "men", "boys", "kings", "farmers"),
    ("woman", "women", "girls", "queens", "mothers"),
    ("foot", "feet", "foots", "footes", "legs"),
    ("tooth", "teeth", "tooths", "toothes", "bones"),
    ("goose", "geese", "gooses", "ganders", "ducks"),
    ("person", "people", "persons", "humans", "folks"),
    ("leaf", "leaves", "leafs", "trees", "plants"),
    ("knife", "knives", "forks", "spoons", "blades"),
    ("wolf", "wolves", "dogs", "foxes", "bears"),
    ("box", "boxes", "crates", "lids", "tins"),
    ("city", "cities", "citys", "towns", "villages"),
    ("ox", "oxen", "bulls", "cows", "sheep"),
    ("cactus", "cacti", "plants", "shrubs", "trees"),
]

_NUMBER_WORDS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
]

_MISC = [
    ("How many legs does a spider have?", "eight", "six", "four", "ten"),
    ("How many days are in a week?", "seven", "five", "ten", "nine"),
    ("How many sides does a triangle have?", "three", "four", "five", "six"),
    ("How many months are in a year?", "twelve", "ten", "seven", "nine"),
    ("How many legs does a cat have?", "four", "two", "six", "eight"),
    ("How many wheels does a bicycle have?", "two", "three", "four", "six"),
    ("How many sides does a square have?", "four", "three", "five", "eight"),
    ("How many hours are in a day?", "twenty-four", "twelve", "ten", "sixty"),
    ("How many legs does an insect have?", "six", "four", "eight", "ten"),
    ("How many arms does an octopus have?", "eight", "six", "four", "ten"),
    ("Which planet do we live on?", "Earth", "Mars", "Venus", "Jupiter"),
    ("What is the largest planet in the solar system?", "Jupiter", "Earth", "Mars", "Venus"),
    ("Which planet is known as the red planet?", "Mars", "Jupiter", "Venus", "Saturn"),
    ("What do bees make?", "honey", "milk", "silk", "wax"),
    ("What do cows drink?", "water", "milk", "juice", "coffee"),
    ("What is frozen water called?", "ice", "steam", "fog", "rain"),
    ("What gas do humans need to breathe to live?", "oxygen", "helium", "neon", "carbon dioxide"),
    ("Which season comes after winter?", "spring", "summer", "autumn", "fall"),
    ("Which season comes after summer?", "autumn", "winter", "spring", "monsoon"),
    (
        "What is the first day of the weekend in most Western countries?",
        "Saturday",
        "Monday",
        "Tuesday",
        "Wednesday",
    ),
    ("Which day comes after Monday?", "Tuesday", "Sunday", "Wednesday", "Friday"),
    ("Which month comes after January?", "February", "March", "December", "April"),
    ("Which month comes after June?", "July", "May", "August", "September"),
    ("What is the opposite of north?", "south", "east", "west", "up"),
    ("What organ pumps blood through the body?", "heart", "liver", "stomach", "brain"),
    ("What do you use to see?", "eyes", "hands", "nose", "feet"),
    ("What do you use to hear?", "ears", "mouth", "hands", "feet"),
    ("What is the largest ocean on Earth?", "Pacific", "Atlantic", "Indian", "Arctic"),
    ("What is the longest river in Africa?", "Nile", "Congo", "Limpopo", "Zambezi"),
    ("Who wrote Romeo and Juliet?", "Shakespeare", "Dickens", "Austen", "Tolkien"),
    ("What is the chemical symbol for gold?", "Au", "Ag", "Fe", "Pb"),
    ("What is the boiling point of water in degrees Celsius?", "100", "50", "0", "212"),
    ("What shape has three sides?", "triangle", "square", "circle", "pentagon"),
    ("What shape is a ball?", "sphere", "cube", "pyramid", "triangle"),
    ("What falls from clouds when it rains?", "water", "sand", "stones", "leaves"),
    ("What is the main language spoken in Brazil?", "Portuguese", "Spanish", "English", "French"),
    ("What is the main language spoken in Mexico?", "Spanish", "Portuguese", "English", "French"),
    ("What animal is known as the king of the jungle?", "lion", "tiger", "elephant", "zebra"),
    ("What is the largest land animal?", "elephant", "giraffe", "lion", "horse"),
    ("What is the tallest animal?", "giraffe", "elephant", "horse", "camel"),
]


def _number_items() -> list[tuple[str, ...]]:
    """Single-digit sums, answered in words; distractors are nearby wrong sums."""
    out: list[tuple[str, ...]] = []
    for a in range(1, 10, 2):
        for b in range(2, 10, 3):
            s = a + b
            wrong = [w for w in (s - 1, s + 1, s + 2) if 0 <= w < len(_NUMBER_WORDS)]
            if len(wrong) < 3:
                wrong.append(s - 2)
            out.append(
                (
                    f"What is {a} plus {b}? Answer with a number word.",
                    _NUMBER_WORDS[s],
                    *(_NUMBER_WORDS[w] for w in wrong[:3]),
                )
            )
    return out


_KNOWLEDGE_SEED = 20240129


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def knowledge_questions() -> list[MultipleChoice]:
    """Project-generated, options-hidden general-knowledge questions (deterministic order and
    option positions). Options' first tokens are pairwise distinct under the SmolLM2 tokenizer."""
    groups: list[tuple[str, list[tuple[str, ...]]]] = [
        ("capital", [(f"What is the capital of {c}?", *opts) for c, *opts in _CAPITALS]),
        (
            "opposite",
            [
                (f'What is the opposite of "{w}"? Answer with one word.', *opts)
                for w, *opts in _OPPOSITES
            ],
        ),
        (
            "animal_sound",
            [
                (f"What sound does a {a} make? Answer with one word.", *opts)
                for a, *opts in _ANIMAL_SOUNDS
            ],
        ),
        (
            "animal_young",
            [
                (f"What is a baby {a} called? Answer with one word.", *opts)
                for a, *opts in _ANIMAL_YOUNG
            ],
        ),
        ("sum", _number_items()),
        ("color", [(f"What color is {t}? Answer with one word.", *opts) for t, *opts in _COLORS]),
        (
            "plural",
            [
                (f'What is the plural of "{w}"? Answer with one word.', *opts)
                for w, *opts in _PLURALS
            ],
        ),
        ("misc", list(_MISC)),
    ]
    rng = random.Random(_KNOWLEDGE_SEED)
    out: list[MultipleChoice] = []
    for source, items in groups:
        for question, answer, *distractors in items:
            # Capitalised: the assistant's reply starts a sentence ("Paris", "Cold", "Twelve").
            options = [_capitalise(o) for o in (answer, *distractors)]
            answer = options[0]
            rng.shuffle(options)
            out.append(
                MultipleChoice(
                    question=question,
                    options=options,
                    correct=options.index(answer),
                    source=f"knowledge:{source}",
                )
            )
    return out
