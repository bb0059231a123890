"""Word lists shipped with the robustness probe.

* person names by gender and cultural origin (a superset of the demo data's names), for the
  name / gender / origin invariance tests;
* gendered word pairs and nationality / country words, for the gender and nationality swaps;
* contractions, for the contraction invariance tests;
* a small polarity list of positive and negative sentiment words, so that an edit such as
  good -> bad is never counted as a valid adversarial example;
* negators and stopwords (never attacked, and a change of a negator is an invalid edit).

All lists are plain Python data written for this package.
"""

from __future__ import annotations

#: First names by gender and cultural origin. Single words, not common English words.
NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "female": {
        "english": ("Emily", "Sarah", "Jessica", "Hannah", "Charlotte", "Olivia", "Rebecca", "Megan"),
        "spanish": ("Lucía", "Carmen", "Sofía", "Isabel", "Valentina", "Marisol", "Paloma", "Elena"),
        "indian": ("Priya", "Ananya", "Lakshmi", "Deepika", "Kavya", "Meera", "Sunita", "Pooja"),
        "nigerian": ("Chioma", "Ngozi", "Folake", "Adaeze", "Amaka", "Yetunde", "Funmilayo", "Nneka"),
        "chinese": ("Meiling", "Xiuying", "Lijuan", "Huifang", "Xiaoling", "Yanmei", "Jingyi", "Ruolan"),
        "arabic": ("Fatima", "Aisha", "Layla", "Mariam", "Noor", "Yasmin", "Salma", "Zainab"),
        "german": ("Katrin", "Ursula", "Greta", "Heike", "Sabine", "Brigitte", "Anneliese", "Gisela"),
        "japanese": ("Sakura", "Haruka", "Yumiko", "Aiko", "Keiko", "Naoko", "Emiko", "Chiyo"),
        "russian": ("Olga", "Natasha", "Svetlana", "Irina", "Tatiana", "Ludmila", "Anastasia", "Yekaterina"),
    },
    "male": {
        "english": ("James", "Michael", "David", "Thomas", "William", "Oliver", "Edward", "George"),
        "spanish": ("Alejandro", "Javier", "Diego", "Carlos", "Santiago", "Mateo", "Rafael", "Joaquín"),
        "indian": ("Rahul", "Arjun", "Vikram", "Sanjay", "Rohan", "Anil", "Suresh", "Aditya"),
        "nigerian": ("Chinedu", "Emeka", "Tunde", "Obinna", "Chukwudi", "Babatunde", "Oluwaseun", "Ikenna"),
        "chinese": ("Jianguo", "Zhiwei", "Haoran", "Junjie", "Weiming", "Guoqiang", "Zhenyu", "Xiaoming"),
        "arabic": ("Mohammed", "Omar", "Ahmed", "Youssef", "Khalid", "Hassan", "Tariq", "Karim"),
        "german": ("Klaus", "Jürgen", "Dieter", "Stefan", "Wolfgang", "Helmut", "Matthias", "Uwe"),
        "japanese": ("Hiroshi", "Takeshi", "Kenji", "Daisuke", "Haruto", "Kazuki", "Ryota", "Satoshi"),
        "russian": ("Dmitri", "Sergei", "Alexei", "Nikolai", "Vladimir", "Mikhail", "Yuri", "Boris"),
    },
}

#: Gendered words and their counterpart (lower case; swapped in both directions, case kept).
GENDER_PAIRS: tuple[tuple[str, str], ...] = (
    ("he", "she"), ("him", "her"), ("his", "her"), ("himself", "herself"), ("man", "woman"), ("men", "women"),
    ("boy", "girl"), ("boys", "girls"), ("father", "mother"), ("dad", "mum"), ("son", "daughter"),
    ("brother", "sister"), ("husband", "wife"), ("boyfriend", "girlfriend"), ("uncle", "aunt"),
    ("nephew", "niece"), ("grandfather", "grandmother"), ("grandpa", "grandma"), ("mr", "mrs"),
    ("gentleman", "lady"), ("king", "queen"), ("male", "female"), ("sons", "daughters"), ("brothers", "sisters"),
)

#: Nationality adjectives and countries, paired by index (swapped for another entry of the same kind).
NATIONALITIES: tuple[str, ...] = (
    "American", "British", "English", "Spanish", "Mexican", "Indian", "Nigerian", "Chinese", "Arab", "German",
    "Japanese", "Russian", "French", "Italian", "Brazilian", "Canadian", "Korean", "Turkish", "Egyptian", "Kenyan",
    "Polish", "Swedish", "Iranian", "Pakistani", "Vietnamese", "Australian", "Irish", "Greek", "Dutch", "Ghanaian",
)
COUNTRIES: tuple[str, ...] = (
    "America", "Britain", "England", "Spain", "Mexico", "India", "Nigeria", "China", "Germany", "Japan", "Russia",
    "France", "Italy", "Brazil", "Canada", "Korea", "Turkey", "Egypt", "Kenya", "Poland", "Sweden", "Iran",
    "Pakistan", "Vietnam", "Australia", "Ireland", "Greece", "Ghana",
)

#: Contractions and their expansions (lower case). ``'d`` and ``'s`` forms whose expansion is
#: ambiguous (would/had, is/has) are left out except where the expansion is fixed.
CONTRACTIONS: tuple[tuple[str, str], ...] = (
    ("isn't", "is not"), ("aren't", "are not"), ("wasn't", "was not"), ("weren't", "were not"),
    ("don't", "do not"), ("doesn't", "does not"), ("didn't", "did not"), ("haven't", "have not"),
    ("hasn't", "has not"), ("hadn't", "had not"), ("won't", "will not"), ("wouldn't", "would not"),
    ("can't", "cannot"), ("couldn't", "could not"), ("shouldn't", "should not"), ("mustn't", "must not"),
    ("i'm", "i am"), ("i've", "i have"), ("i'll", "i will"), ("you're", "you are"), ("we're", "we are"),
    ("they're", "they are"), ("we've", "we have"), ("they've", "they have"), ("it's", "it is"),
    ("that's", "that is"), ("there's", "there is"), ("let's", "let us"), ("you'll", "you will"),
    ("we'll", "we will"), ("they'll", "they will"), ("he's", "he is"), ("she's", "she is"),
)

#: Words that negate what follows; changing one changes the meaning, so such an edit is invalid.
NEGATORS: frozenset[str] = frozenset({
    "not", "no", "never", "nothing", "nobody", "none", "neither", "nor", "nowhere", "without", "hardly",
    "barely", "scarcely", "cannot", "isn't", "aren't", "wasn't", "weren't", "don't", "doesn't", "didn't",
    "haven't", "hasn't", "hadn't", "won't", "wouldn't", "can't", "couldn't", "shouldn't", "mustn't", "n't",
})

#: Function words that are never attacked (attacking them says little about the model).
STOPWORDS: frozenset[str] = frozenset("""
a about above after again against all am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have
having he her here hers herself him himself his how i if in into is it its itself just me more most
my myself no nor not now of off on once only or other our ours ourselves out over own same she should
so some such than that the their theirs them themselves then there these they this those through to
too under until up very was we were what when where which while who whom why will with would you your
yours yourself yourselves also although though however yet still even ever never already again much
many every either neither whether upon onto within without among per via isn't aren't wasn't weren't
don't doesn't didn't haven't hasn't hadn't won't wouldn't can't couldn't shouldn't i'm i've i'll it's
that's there's let's we're they're you're
""".split())

#: Sentiment words by polarity (lower case, inflected forms listed where common).
POSITIVE_WORDS: tuple[str, ...] = tuple("""
good great excellent superb wonderful brilliant fantastic outstanding amazing awesome perfect impressive
enjoyable entertaining funny clever reliable sturdy fast solid nice lovely beautiful pleasant delightful
charming splendid terrific marvellous marvelous fabulous magnificent exceptional remarkable superior fine
decent satisfying satisfactory enjoy enjoyed love loved like liked recommend recommended admire admired
appreciate appreciated best better favourite favorite happy glad pleased thrilled delighted excited exciting
fun engaging gripping compelling moving touching powerful smart intelligent witty hilarious elegant stunning
gorgeous sharp crisp smooth responsive efficient durable convenient useful helpful valuable worthwhile
flawless strong positive praise success successful masterpiece gem winner bargain incredible memorable
refreshing inspiring uplifting fascinating captivating thoughtful polished slick sleek comfortable
dependable robust accurate generous affordable quality classy cool neat lively vivid rich tasty fresh
pleasing admirable commendable exquisite sublime glorious joyful beloved praised loves likes enjoys
adored adore adores cherished treasured precious favoured favored splendidly wonderfully superbly
heartwarming hearty charmed amused amusing pleasurable rewarding satisfied impressed recommendable
top-notch first-rate stellar spectacular phenomenal extraordinary beautifully nicely
""".split())
NEGATIVE_WORDS: tuple[str, ...] = tuple("""
bad terrible awful horrible dreadful poor weak dull boring disappointing disappointed predictable slow
flimsy unreliable useless worst worse mediocre lousy pathetic annoying irritating frustrating tedious
bland lame stupid dumb silly ridiculous ugly nasty unpleasant painful broken faulty defective clumsy
sloppy messy confusing hate hated dislike disliked waste wasted fail failed failure flop mess disaster
garbage rubbish trash junk regret complaint angry upset unhappy dissatisfied negative inferior
unacceptable overpriced overrated forgettable pointless shallow lifeless boredom disgusting atrocious
abysmal appalling horrendous subpar sluggish noisy fragile flawed uninspired unoriginal cliched tiresome
hates dislikes regretted wasteful unbearable unwatchable incompetent amateurish tacky crappy shoddy
dismal miserable grim hollow stale tired weakest poorest cheap tasteless clunky buggy laggy unusable
unfunny dire woeful inadequate lacking lackluster lacklustre dreary drab monotonous tedious wearisome
irksome dreadfully terribly awfully horribly badly poorly boringly disliking hating loathe loathed
despise despised detest detested annoyed bored irritated frustrated unsatisfactory unsatisfying
""".split())

__all__ = [
    "NAMES", "GENDER_PAIRS", "NATIONALITIES", "COUNTRIES", "CONTRACTIONS", "NEGATORS", "STOPWORDS",
    "POSITIVE_WORDS", "NEGATIVE_WORDS",
]
