"""A seeded mutation fuzzer for BUILD files, run through the real Loader in-process.

Seeds are the valid and invalid cases, BUILD.example and the docs' examples; each input is a
seed with 1-4 mutations (byte flips, token insertion, deletion, truncation, duplication, a
splice of two seeds, deep nesting, huge tokens, non-UTF-8 bytes). The property: an input
either loads or raises a RecipeError whose every diagnostic is placed in p/BUILD (line >= 1)
and renders without grammar names; never another exception.
"""

from __future__ import annotations

import random
import re
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from jbuild.dsl.errors import RecipeError, render_all
from jbuild.dsl.loader import Loader
from jbuild.dsl.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
CASES = Path(__file__).parent / "cases"
TOKENS = [b"{", b"}", b"[", b"]", b"(", b")", b"=", b"==", b",", b":", b".", b"+", b'"', b'"""', b"#", b"\n",
          b" ", b"@", b"//", b">=", b"<", b"!=", b"~", b"^", b"\\", b"$", b"${config.port}", b"package", b"test",
          b"version", b"sources", b"requires", b"when", b"default", b"glob(", b"exclude", b"flavours",
          b"config", b"service", b"volume", b"host_tool", b"settings", b"contribute", b"//x:y", b":z",
          b"@std//host:cc", b"1.0", b"-1", b"true", b"\xff", b"\xc3", b"\x00", b"\xe2\x82", "é".encode()]


def valid_seeds() -> list[bytes]:
    return [p.read_bytes() for p in sorted(CASES.glob("valid/*.jb"))] + [(REPO / "BUILD.example").read_bytes()]


def seeds() -> list[bytes]:
    out = valid_seeds() + [p.read_bytes() for p in sorted(CASES.glob("invalid/*.jb"))]
    for doc in sorted((REPO / "docs").glob("*.md")):
        out += [b.encode() for b in re.findall(r"```jbuild\n(.*?)```", doc.read_text(), re.DOTALL)]
    return out


def mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    for _ in range(rng.randint(1, 4)):
        pos = rng.randint(0, len(data))
        op = rng.random()
        if op < 0.25:  # flip a byte
            if data:
                pos = min(pos, len(data) - 1)
                data = data[:pos] + bytes([rng.randrange(256)]) + data[pos + 1:]
        elif op < 0.50:  # insert a token
            data = data[:pos] + rng.choice(TOKENS) + data[pos:]
        elif op < 0.60:  # delete a run
            data = data[:pos] + data[pos + rng.randint(1, 40):]
        elif op < 0.66:  # truncate
            data = data[:pos]
        elif op < 0.76:  # duplicate a slice elsewhere
            start = rng.randint(0, len(data))
            chunk = data[start:start + rng.randint(1, 200)]
            data = data[:pos] + chunk + data[pos:]
        elif op < 0.84:  # splice with another seed
            other = rng.choice(pool)
            data = data[:pos] + other[rng.randint(0, len(other)):]
        elif op < 0.90:  # deep nesting, balanced or not
            opener, closer = rng.choice([(b"[", b"]"), (b"{", b"}"), (b"(", b")"), (b"b {", b"}"), (b"{a=", b"}")])
            depth = rng.choice([5, 50, 99, 101, 300, 1500])
            data = data[:pos] + opener * depth + (closer * depth if rng.random() < 0.7 else b"") + data[pos:]
        elif op < 0.96:  # a huge token: a long name, string, number or comment
            size = rng.choice([1_000, 50_000, 200_000]) if rng.random() < 0.995 else 2_000_000
            unit = rng.choice([b"a", b"9", b"x ", b'"' + b"s" * 7, b"#", b" + \"a\""])
            data = data[:pos] + unit * (size // len(unit)) + data[pos:]
        else:  # bytes that are not UTF-8
            data = data[:pos] + rng.choice([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\x80"]) + data[pos:]
    return data


@dataclass
class Outcome:
    inputs: int = 0
    loaded: int = 0
    refused: int = 0
    slowest: float = 0.0
    failures: list[str] = field(default_factory=list)


def check_one(root: Path, data: bytes) -> str | None:
    """None if the loader behaved; otherwise what went wrong."""
    (root / "p" / "BUILD").write_bytes(data)
    loader = Loader(Workspace(root))
    try:
        loader.closure(loader.expand(["//p:all"]))
        return None
    except RecipeError as exc:
        bad = [d for d in exc.diagnostics if d.span.line < 1]
        if bad:
            return f"unplaced diagnostic: {bad[0].message[:200]}"
        text = render_all(exc, str(root))
        if "__ANON" in text or "Token(" in text or "error:" not in text:
            return f"bad rendering: {text[:300]}"
        return ""
    except Exception:
        return traceback.format_exc(limit=-3)


def campaign(root: Path, count: int, seed: int) -> Outcome:
    """Fuzz `count` inputs in a workspace at `root` (made here)."""
    (root / "p" / "src").mkdir(parents=True, exist_ok=True)
    (root / "p" / "include").mkdir(exist_ok=True)
    (root / "jbuild.toml").write_text("")
    for rel in ("src/main.c", "include/pg.h", "a.c", "main.c", "x.c"):
        (root / "p" / rel).write_text("")
    rng, pool, valid, out = random.Random(seed), seeds(), valid_seeds(), Outcome()
    for _ in range(count):
        data = mutate(rng, rng.choice(valid if rng.random() < 0.5 else pool), pool)
        start = time.process_time()  # CPU seconds: a loaded machine must not fail the campaign
        problem = check_one(root, data)
        out.slowest = max(out.slowest, time.process_time() - start)
        out.inputs += 1
        if problem is None:
            out.loaded += 1
        elif problem == "":
            out.refused += 1
        else:
            out.failures.append(f"{problem}\n--- input ({len(data)} bytes): {data[:300]!r}")
    return out
