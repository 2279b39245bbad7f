"""Random and mutated recipe text: the loader either succeeds or raises a RecipeError whose
rendering names a place in the file. Never another exception."""

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as s
from jbuild.dsl.errors import RecipeError, render_all
from jbuild.dsl.lowering import lower_file
from jbuild.dsl.parser import parse

SEED = (Path(__file__).parent / "cases" / "valid" / "every_form.jb").read_text()
ALPHABET = s.sampled_from(list('{}[]()=,:.+"#\n @/<>!~-_ab01') + ["package", "version", "when", "default",
                                                                    "glob", '"""', "//x:y", ":z", ">="])


def check(text: str) -> None:
    try:
        lower_file(parse(text, "BUILD"), "pkg")
    except RecipeError as exc:
        out = render_all(exc)
        assert out.startswith("BUILD:") and "error:" in out
        assert "__ANON" not in out and "Token(" not in out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(s.lists(ALPHABET, max_size=40).map("".join))
def test_random_text(text):
    check(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(s.integers(0, len(SEED) - 1), s.integers(0, 12), s.lists(ALPHABET, max_size=3).map("".join))
def test_mutated_valid_recipe(pos, cut, insert):
    check(SEED[:pos] + insert + SEED[pos + cut:])


def _half(args):
    from fuzzing import campaign

    root, count, seed = args
    return campaign(root, count, seed)


def test_fuzz_campaign_through_the_loader(tmp_path):
    """20,000 mutated BUILD files through the real Loader, on two processes (two cores): each
    loads or raises a placed RecipeError. About 25 s."""
    import multiprocessing
    import time
    from concurrent.futures import ProcessPoolExecutor

    start = time.monotonic()
    jobs = [(tmp_path / f"w{i}", 10_000, 20260 + i) for i in range(2)]
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
        results = list(pool.map(_half, jobs))
    failures = [f for r in results for f in r.failures]
    assert not failures, f"{len(failures)} bad outcomes; the first:\n{failures[0]}"
    inputs = sum(r.inputs for r in results)
    loaded = sum(r.loaded for r in results)
    assert inputs == 20_000 and loaded > 100  # the valid paths are exercised too
    assert max(r.slowest for r in results) < 3.0  # CPU seconds for the slowest input (linear-time parsing)
    print(f"fuzz: {inputs} inputs, {loaded} loaded, {inputs - loaded} refused, {time.monotonic() - start:.1f} s")
