"""Crisis rules (docs/architecture.md "The crisis path"): levels shaped like C-SSRS, and the hard negatives.

Cases are written for this file (not copied from the data set). The second half of each
list holds the cases the first version of the rules got wrong; they now pass.
"""

from __future__ import annotations

import pytest

from services.moderation.detectors.crisis import CrisisDetector

POSITIVES = [
    # imminent: plan + means + time now, or an overdose / attempt / self-harm in progress
    ("I'm going to kill myself tonight, I have all my pills ready.", "imminent"),
    ("I have a plan. I bought a rope and I'm doing it tonight.", "imminent"),
    ("I just took all of my pills", "imminent"),
    ("I took 30 pills an hour ago and I feel weird", "imminent"),
    ("I think I'm overdosing, everything is spinning", "imminent"),
    ("my friend is not breathing", "imminent"),
    ("My friend isn't breathing and his lips are blue, what do I do", "imminent"),
    ("My sister is overdosing right now", "imminent"),
    ("I'm cutting right now and it's bleeding a lot", "imminent"),
    ("me he tomado todas las pastillas", "imminent"),
    ("me estoy muriendo, no puedo respirar", "imminent"),
    # high: intent, a plan, preparations, goodbyes, stockpiling
    ("Goodbye everyone, thank you for everything.", "high"),
    ("By the time you read this I'll be gone.", "high"),
    ("This is my last post here.", "high"),
    ("I've been saving up my pills for weeks.", "high"),
    ("I have been stockpiling my meds", "high"),
    ("I have a plan.", "high"),
    ("I wrote my suicide note last night", "high"),
    ("esta noche me voy a matar", "high"),
    ("esta es mi última noche", "high"),
    # watch: a current wish to die, self-harm thoughts, no plan
    ("Some days I just want to die", "watch"),
    ("I don't want to wake up tomorrow", "watch"),
    ("I wish I was dead", "watch"),
    ("I keep having thoughts of killing myself", "watch"),
    ("I want to hurt myself again", "watch"),
    ("quiero morir", "watch"),
    ("me quiero morir", "watch"),
    ("ya no quiero vivir", "watch"),
    # once missed or under-rated by the first rules (fixed in crisis-rules-v2)
    ("I want to die", "watch"),
    ("She's not breathing", "imminent"),
    ("He's turning blue and won't wake up", "imminent"),
    ("My roommate won't wake up and his lips are blue", "imminent"),
    ("I am going to jump off the bridge tonight", "imminent"),
    ("I've been in recovery for 3 years and tonight I'm going to take all my pills.", "imminent"),
    ("Nobody even asked if I was ok so tonight I'm taking all my pills", "imminent"),
    ("I used to think it would pass but I want to die", "watch"),
    ("esta noche me voy a matar con las pastillas", "imminent"),
    ("voy a tomarme todas las pastillas esta noche", "imminent"),
    ("me tomé todas las pastillas", "imminent"),
    ("mi amigo no respira", "imminent"),
    ("tengo un plan para matarme", "high"),
    ("estoy pensando en suicidarme", "watch"),
]

HARD_NEGATIVES = [
    "Two years ago I swallowed all my pills; today I'm 400 days clean",
    "Two years ago I swallowed all my pills. Today I'm 400 days clean.",
    "When I was using I wanted to die every day. Now I'm grateful to be here.",
    "I used to stockpile pills, but I've been clean for 18 months.",
    "this craving is killing me",
    "this craving is fucking killing me",
    "that test killed me",
    "I could die of embarrassment, I cried at my first meeting",
    "carry naloxone, never use alone",
    "Test strips saved my friend. Please carry naloxone and never use alone.",
    "my therapist asked if I have thoughts of suicide and I said no",
    "fentanyl is in everything now",
    "heroin, oxy, xanax, pills, all of it. that was my life.",
    "I don't want to die, I want to get better",
    "Día 90 sin consumir. Gracias a todos.",
    "",
    "I'm dying to go to the gym",
    "I'm dying laughing at this thread",
    "me estoy muriendo de risa",
    "I'm gonna die if I have to sit through another budget meeting",
    "I'm going to end it with my boyfriend tonight",
    "My counselor asked whether I have thoughts of suicide, and I told her no.",
    "In 2019 I took all my pills and woke up in the ICU.",
    "Last year I took a whole bottle of pills.",
    "I took all my sponsor's advice and it really helped.",
    "I have a plan for this weekend: two meetings and a call with my sponsor.",
    "My dad is breathing on his own again, the ventilator came off yesterday.",
    "Goodbye everyone, logging off for the night, see you tomorrow!",
]


@pytest.fixture(scope="module")
def detector() -> CrisisDetector:
    return CrisisDetector()


@pytest.mark.parametrize(("text", "level"), POSITIVES)
def test_crisis_is_detected_at_its_level(detector, text, level):
    signals = detector.detect(text)
    assert [s.details["level"] for s in signals] == [level]


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_hard_negative_gives_no_signal(detector, text):
    assert detector.detect(text) == []


@pytest.mark.parametrize("text", [p[0] for p in POSITIVES if not hasattr(p, "marks")])  # the ones it gets right
def test_signal_shape_and_evidence_is_a_span_of_the_input(detector, text):
    (signal,) = detector.detect(text)
    assert signal.category == "crisis" and signal.detector == detector.name
    assert 0.0 <= signal.score <= 1.0
    assert isinstance(signal.details["method_detail"], bool)
    assert signal.evidence and signal.evidence.lower() in text.lower()


def test_evidence_is_a_span_even_with_typographic_apostrophes(detector):
    text = "I’m going to kill myself tonight"
    (signal,) = detector.detect(text)
    assert signal.evidence.lower() in text.lower()


def test_scores_rise_with_the_level(detector):
    score = {lvl: detector.detect(text)[0].score
             for text, lvl in [("I wish I was dead", "watch"), ("I have a plan.", "high"), ("I'm overdosing", "imminent")]}
    assert score["watch"] < score["high"] < score["imminent"]


def test_the_highest_level_wins_when_several_are_present(detector):
    text = "I wish I was dead. I have a plan. My friend is not breathing."
    assert [s.details["level"] for s in detector.detect(text)] == ["imminent"]


def test_plan_means_and_time_make_imminent_but_plan_alone_is_high(detector):
    assert detector.detect("I'm going to kill myself.")[0].details["level"] == "high"
    assert detector.detect("I'm going to kill myself. I have the pills. Tonight.")[0].details["level"] == "imminent"


def test_means_named_with_intent_are_method_detail(detector):
    assert detector.detect("I've been saving up my pills.")[0].details["method_detail"] is True
    assert detector.detect("I have a plan.")[0].details["method_detail"] is False


def test_a_past_sentence_does_not_hide_a_present_one(detector):
    text = "Two years ago I swallowed all my pills. Tonight I'm going to kill myself, the pills are right here."
    assert [s.details["level"] for s in detector.detect(text)] == ["imminent"]


# --- crisis-rules-v3 (issue 3): cases written for this file ---------------------------------------------------------

V3_POSITIVES = [
    # in progress
    ("I can't stop the bleeding this time", "imminent"),
    ("cut too deep and I can't get it to stop bleeding", "imminent"),
    ("I'm in the car in the garage with the motor running", "imminent"),
    ("the engine is running and the garage door is shut", "imminent"),
    ("I'm standing on the ledge of the parking deck", "imminent"),
    ("no deja de sangrar", "imminent"),
    # intent, goodbyes, refusing to be stopped, self-harm again
    ("This is it, the night I finally end my life.", "high"),
    ("Please don't try to stop me.", "high"),
    ("I have a plan now.", "high"),
    ("I cut myself again", "high"),
    ("Solo quería despedirme de ustedes.", "high"),
    # a current wish; a wish with "right now" is rated high
    ("Everyone would be better off without me", "watch"),
    ("No one would even notice if I disappeared", "watch"),
    ("I keep hoping I fall asleep and never wake up", "watch"),
    ("quisiera dormir y no despertar", "watch"),
    ("I want to die right now", "high"),
    # ingestion without a subject, preparations, no point in living
    ("Took everything in the cabinet. Sorry.", "imminent"),
    ("just popped 30 bars, feeling floaty", "imminent"),
    ("The rope is tied.", "high"),
    ("I'm going to drive my car into a wall", "high"),
    ("I don't see the point in living anymore", "watch"),
    ("no reason left to go on", "watch"),
    ("no le veo sentido a la vida", "watch"),
    # overdose signs beside a drug, a whole prescription, the means at hand with an end in view
    ("he's foaming at the mouth and won't respond, he used something", "imminent"),
    ("my sister is barely breathing, she did fent an hour ago", "imminent"),
    ("I've taken over 20 of my seroquel with wine", "imminent"),
    ("swallowed my entire prescription tonight", "imminent"),
    ("I'm sitting here with a knife and I can't do this anymore", "high"),
    ("Please tell my kids I love them.", "high"),
    ("I don't care if I live or die anymore", "watch"),
    ("death sounds like a relief", "watch"),
    ("quisiera morirme", "watch"),
]

V3_HARD_NEGATIVES = [
    "Three years ago tonight I took all my pills; now I run a support group.",
    "A year ago today I swallowed a bottle of pills and woke up in the ICU. Grateful today.",
    "My dad left the car running in the garage to warm it up.",
    "Tonight's the night! One year sober party at my place.",
    "Don't try to stop me from going to the meeting lol",
    "Nobody can stop me now, six months clean!",
    "I'm standing on the bridge where I proposed to her.",
    "I cut myself shaving today, so much blood for a tiny nick",
    "I hurt myself at the gym today",
    "I can't stop thinking about using tonight",
    "My doctor asked if I wanted to die and I said not anymore.",
    "I'm going to end my streak of skipping meetings.",
    "took 3 meds this morning as prescribed",
    "I took 2 advil for my headache",
    "we tied the knot last june!",
    "took everything my sponsor said to heart",
    "I'd rather die than go back to using",
    "sick and tired of living like this, so I called a meeting line",
    "Got a new knife for my kitchen, I'm done with takeout",
    "I bought a rope for the camping trip",
    "My therapist had me write a goodbye letter to alcohol",
    "his breathing is slow and steady now, the doctors say he'll be fine",
]


@pytest.mark.parametrize(("text", "level"), V3_POSITIVES)
def test_v3_crisis_is_detected_at_its_level(detector, text, level):
    assert [s.details["level"] for s in detector.detect(text)] == [level]


@pytest.mark.parametrize("text", V3_HARD_NEGATIVES)
def test_v3_hard_negative_gives_no_signal(detector, text):
    assert detector.detect(text) == []


@pytest.mark.parametrize("text", [t for t, _ in V3_POSITIVES])
def test_v3_evidence_is_a_span_of_the_input(detector, text):
    (signal,) = detector.detect(text)
    assert signal.evidence and signal.evidence in text
