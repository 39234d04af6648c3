"""The 128 General MIDI melodic programs, in plain words, and their 16 families.

Names are written as a person would caption the sound ("a muted trumpet", not "Muted Trp"),
because the text side of CSA is a sentence encoder: it can only relate "trombone" to "brass"
if the words are real words.
"""

from __future__ import annotations

GM_FAMILIES: tuple[str, ...] = (
    "piano",
    "chromatic percussion",
    "organ",
    "guitar",
    "bass",
    "strings",
    "ensemble",
    "brass",
    "reed",
    "pipe",
    "synth lead",
    "synth pad",
    "synth effects",
    "ethnic",
    "percussive",
    "sound effects",
)

GM_PROGRAMS: tuple[str, ...] = (
    # piano
    "acoustic grand piano", "bright acoustic piano", "electric grand piano", "honky-tonk piano",
    "electric piano", "chorused electric piano", "harpsichord", "clavinet",
    # chromatic percussion
    "celesta", "glockenspiel", "music box", "vibraphone",
    "marimba", "xylophone", "tubular bells", "dulcimer",
    # organ
    "drawbar organ", "percussive organ", "rock organ", "church organ",
    "reed organ", "accordion", "harmonica", "tango accordion",
    # guitar
    "nylon string acoustic guitar", "steel string acoustic guitar", "jazz electric guitar",
    "clean electric guitar", "muted electric guitar", "overdriven guitar",
    "distortion guitar", "guitar harmonics",
    # bass
    "acoustic bass", "fingered electric bass", "picked electric bass", "fretless bass",
    "slap bass", "popping slap bass", "synth bass", "second synth bass",
    # strings
    "violin", "viola", "cello", "contrabass",
    "tremolo strings", "pizzicato strings", "orchestral harp", "timpani",
    # ensemble
    "string ensemble", "slow string ensemble", "synth strings", "second synth strings",
    "choir aahs", "voice oohs", "synth voice", "orchestra hit",
    # brass
    "trumpet", "trombone", "tuba", "muted trumpet",
    "french horn", "brass section", "synth brass", "second synth brass",
    # reed
    "soprano saxophone", "alto saxophone", "tenor saxophone", "baritone saxophone",
    "oboe", "english horn", "bassoon", "clarinet",
    # pipe
    "piccolo", "flute", "recorder", "pan flute",
    "blown bottle", "shakuhachi", "whistle", "ocarina",
    # synth lead
    "square wave lead", "sawtooth wave lead", "calliope lead", "chiff lead",
    "charang lead", "voice lead", "fifths lead", "bass and lead",
    # synth pad
    "new age pad", "warm pad", "polysynth pad", "choir pad",
    "bowed pad", "metallic pad", "halo pad", "sweep pad",
    # synth effects
    "rain effect", "soundtrack effect", "crystal effect", "atmosphere effect",
    "brightness effect", "goblins effect", "echoes effect", "science fiction effect",
    # ethnic
    "sitar", "banjo", "shamisen", "koto",
    "kalimba", "bagpipe", "fiddle", "shanai",
    # percussive
    "tinkle bell", "agogo", "steel drums", "woodblock",
    "taiko drum", "melodic tom", "synth drum", "reverse cymbal",
    # sound effects
    "guitar fret noise", "breath noise", "seashore", "bird tweet",
    "telephone ring", "helicopter", "applause", "gunshot",
)  # fmt: skip

assert len(GM_PROGRAMS) == 128 and len(GM_FAMILIES) == 16


def gm_family(program: int) -> str:
    """GM groups programs in blocks of eight; the block is the family."""
    return GM_FAMILIES[program // 8]
