"""Reference token ids for runtime/tokenizer_test.cc (Gemma 3 270M GGUF vocab).

The reference is the Hugging Face `tokenizers` library, not our C++ code: a
BPE model is built from the GGUF's tokens and scores (merges ranked by the
score of the piece they produce, which is SentencePiece-BPE's rule), with
byte fallback, ' ' -> U+2581 and no pre-splitting; control tokens are added
as special tokens and user-defined tokens as plain added tokens, both matched
on the raw text. This mirrors how llama.cpp tokenizes `tokenizer.ggml.model =
"llama"` vocabularies with `add_space_prefix = false`.

Usage (needs `gguf` and `tokenizers`, e.g. the venv after
`scripts/setup.sh --fixtures`, which installs transformers and with it
tokenizers):
    python runtime/tokenizer_testdata/make_gemma3_reference.py \
        ~/.cache/sovereign/gemma-3-270m-q4_k_m.gguf \
        > runtime/tokenizer_testdata/gemma3_reference.json
"""
import json
import random
import sys

import gguf
import tokenizers
from tokenizers import AddedToken, Tokenizer, models, normalizers

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

CASES = [
    "Hello world",
    "Hello, world! How are you today?",
    " leading space",
    "trailing space ",
    "a  b   c    d",
    " " * 40,
    "x" + " " * 70 + "y",
    "line1\nline2\n\nline3\n\n\n",
    "\n" * 40,
    "\ttab\tseparated\t\tdouble",
    "\r\nwindows\r\n",
    "emoji 😀 👍🏽 🇫🇷 👨‍👩‍👧 🫠",
    "中文分词测试，日本語のテキスト、한국어 문장",
    "café naïve résumé Ångström straße ẞ",
    "e\u0301 combining vs é precomposed",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𓀀𓀁 rare letters",
    "def square(x):\n    return x ** 2  # comment\n",
    "if (a < b && c > d) { return a->b[0]; }",
    "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n",
    "<bos>text after bos",
    "<b>bold</b> <table><tr><td>1</td></tr></table>",
    "<0x41> is not a byte, <unused0> <mask> <eos>",
    "[multimodal] <start_of_image>",
    "a\u00a0b\u200bc\u3000d",
    "1234567890 3.14159 -0.5e10",
    "nul\u0000byte and \u007f delete",
    "The quick brown fox jumps over the lazy dog. Sphinx of black quartz, judge my vow.",
    "",
    " ",
    "\n",
]


def random_cases(tokens, types, n, seed):
    """Strings glued from random vocabulary pieces and awkward characters, to
    exercise merge order far beyond the hand-written cases."""
    rng = random.Random(seed)
    normal = [t for t, ty in zip(tokens, types) if ty == NORMAL]
    special = [t for t, ty in zip(tokens, types) if ty in (CONTROL, USER_DEFINED)]
    odd = list(" \n\t<>▁") + ["  ", "\r\n", "é", "ß", "中", "😀", "👍🏽", "𓀀", "\u00a0", "e\u0301"]
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 12)):
            r = rng.random()
            if r < 0.6:
                parts.append(rng.choice(normal).replace("\u2581", " "))
            elif r < 0.9:
                parts.append(rng.choice(odd))
            else:
                parts.append(rng.choice(special))
        out.append("".join(parts))
    return out


def load(path):
    r = gguf.GGUFReader(path)
    f = r.fields
    model = bytes(f["tokenizer.ggml.model"].parts[-1]).decode()
    assert model == "llama", model
    tokens = [bytes(f["tokenizer.ggml.tokens"].parts[i]).decode() for i in f["tokenizer.ggml.tokens"].data]
    scores = [float(f["tokenizer.ggml.scores"].parts[i][0]) for i in f["tokenizer.ggml.scores"].data]
    types = [int(f["tokenizer.ggml.token_type"].parts[i][0]) for i in f["tokenizer.ggml.token_type"].data]
    add_prefix = bool(f["tokenizer.ggml.add_space_prefix"].parts[-1][0])
    assert not add_prefix
    return tokens, scores, types


def build(tokens, scores, types):
    vocab = {t: i for i, t in enumerate(tokens)}
    # Pieces that merging may produce (normal tokens) and their split points.
    merges = []
    for i, t in enumerate(tokens):
        if types[i] != NORMAL or len(t) < 2:
            continue
        for k in range(1, len(t)):
            a, b = t[:k], t[k:]
            if a in vocab and b in vocab:
                merges.append((-scores[i], i, k, a, b))
    merges.sort()
    bpe = models.BPE(vocab=vocab, merges=[(a, b) for *_, a, b in merges], unk_token="<unk>",
                     byte_fallback=True, fuse_unk=False)
    tok = Tokenizer(bpe)
    tok.normalizer = normalizers.Replace(" ", "\u2581")
    added = []
    for i, t in enumerate(tokens):
        if types[i] in (CONTROL, UNKNOWN):
            added.append(AddedToken(t, special=True, normalized=False))
        elif types[i] == USER_DEFINED:
            added.append(AddedToken(t, special=False, normalized=False))
    tok.add_tokens(added)
    return tok


def main():
    tokens, scores, types = load(sys.argv[1])
    tok = build(tokens, scores, types)
    out = {
        "generator": "runtime/tokenizer_testdata/make_gemma3_reference.py",
        "tokenizers_version": tokenizers.__version__,
        "vocab_size": len(tokens),
        "cases": [],
    }
    for text in CASES + random_cases(tokens, types, 200, seed=20261127):
        tok.encode_special_tokens = False
        ids = tok.encode(text, add_special_tokens=False).ids
        tok.encode_special_tokens = True
        ids_plain = tok.encode(text, add_special_tokens=False).ids
        out["cases"].append({"text": text, "ids": ids, "ids_no_special": ids_plain})
    # One case per line keeps diffs of the fixture readable.
    cases = out.pop("cases")
    head = json.dumps(out, ensure_ascii=False)[:-1]
    lines = [json.dumps(c, ensure_ascii=False) for c in cases]
    sys.stdout.write(head + ', "cases": [\n' + ",\n".join(lines) + "\n]}\n")


if __name__ == "__main__":
    main()
