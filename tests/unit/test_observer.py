"""Reading buildah's output: steps, cache hits, stage timings, the training error line."""

from __future__ import annotations

import itertools

from nb2svc.image.containerfile import StepKind, render, step_kind
from nb2svc.image.observer import BuildObserver
from test_containerfile import make_plan

OUTPUT = """\
[1/4] STEP 1/3: FROM localhost/nb2svc/python:3.11-build AS deps
[1/4] STEP 2/3: COPY requirements.lock /opt/nb2svc/build/requirements.lock
--> Using cache 1a2b3c
[1/4] STEP 3/3: RUN --mount=type=cache,id=nb2svc-uv UV_LINK_MODE=copy uv pip sync x
--> Using cache 4d5e6f
[2/4] STEP 1/6: FROM deps AS train
[2/4] STEP 6/6: RUN MPLBACKEND=Agg /opt/venv/bin/python /opt/nb2svc/build/train.py
nb2svc: cell 3 (In [3])
Traceback (most recent call last):
NB2SVC-ERROR {"stage": "training", "notebook": "nb.ipynb", "cell": 3, "ename": "KeyError"}
"""


def observe(text: str) -> BuildObserver:
    ticks = itertools.count()
    observer = BuildObserver(clock=lambda: float(next(ticks)))
    for line in text.splitlines():
        observer.feed(line)
    observer.finish()
    return observer


def test_steps_are_recorded_with_their_stage_and_cache_hits() -> None:
    observer = observe(OUTPUT)
    assert [(s.stage, s.number, s.cached) for s in observer.steps] == [
        (1, 1, False), (1, 2, True), (1, 3, True), (2, 1, False), (2, 6, False),
    ]  # fmt: skip


def test_the_deps_install_step_and_the_training_step_can_be_found() -> None:
    observer = observe(OUTPUT)
    deps = observer.step_matching("uv pip sync")
    train = observer.step_matching("train.py")
    assert deps is not None
    assert deps.cached
    assert train is not None
    assert not train.cached


def test_stage_times_are_named_after_the_stages() -> None:
    assert set(observe(OUTPUT).stage_seconds()) == {"deps", "train"}


def test_the_training_error_line_is_parsed() -> None:
    error = observe(OUTPUT).training_error
    assert error == {"stage": "training", "notebook": "nb.ipynb", "cell": 3, "ename": "KeyError"}


def test_a_broken_error_line_is_ignored_rather_than_crashing() -> None:
    assert observe("NB2SVC-ERROR {not json\n").training_error is None


INTERLEAVED = """\
[3/4] STEP 4/6: COPY --from=train /opt/nb2svc/model/requirements.txt /opt/nb2svc/build/m.txt
[2/4] STEP 1/6: FROM 93acac AS train
[2/4] STEP 2/6: COPY nb2svc_runtime /opt/nb2svc/lib/nb2svc_runtime
--> Using cache 8a9943
[2/4] STEP 6/6: RUN /opt/venv/bin/python /opt/nb2svc/build/train.py
nb2svc: cell 1 (In [1]) of flowers.ipynb, 0.0s elapsed
nb2svc: training done in 3.6s; saving the model
--> Using cache c0d40c
[3/4] STEP 5/6: COPY --from=train /opt/nb2svc/model/keep-modules.txt /opt/nb2svc/build/k.txt
--> Using cache 4c37c8
"""


def test_a_cache_hit_printed_after_training_belongs_to_the_step_that_waited_for_it() -> None:
    observer = observe(INTERLEAVED)
    train = observer.step_matching("/bin/python /opt/nb2svc/build/train.py")
    waiting = observer.step_matching("model/requirements.txt")
    assert train is not None
    assert not train.cached, "training printed output: it ran"
    assert waiting is not None
    assert waiting.cached
    assert [s.cached for s in observer.steps] == [True, False, True, False, True]


def test_a_cached_training_step_and_the_waiting_step_are_both_cache_hits() -> None:
    cached_run = INTERLEAVED.replace(
        "nb2svc: cell 1 (In [1]) of flowers.ipynb, 0.0s elapsed\n"
        "nb2svc: training done in 3.6s; saving the model\n",
        "--> Using cache 11aa22\n",
    )
    observer = observe(cached_run)
    assert [s.cached for s in observer.steps] == [True, False, True, True, True]


def test_the_steps_nb2svc_renders_are_known_by_their_kind() -> None:
    observer = observe(OUTPUT)
    deps, train = observer.step_of(StepKind.DEPS), observer.step_of(StepKind.TRAIN)
    assert deps is not None
    assert (deps.number, deps.cached) == (3, True)
    assert train is not None
    assert (train.number, train.cached) == (6, False)
    assert observer.step_of(StepKind.SERVE_DEPS) is None


def test_every_run_step_of_a_rendered_containerfile_has_its_kind() -> None:
    text = render(make_plan())
    runs = [line for line in text.splitlines() if line.startswith("RUN ")]
    kinds = {step_kind(" ".join(_instruction(text, run))) for run in runs}
    assert {StepKind.DEPS, StepKind.TRAIN, StepKind.SERVE_DEPS} <= kinds
    assert step_kind("COPY train.py /opt/nb2svc/build/train.py") is None


def _instruction(text: str, first: str) -> list[str]:
    """The whole instruction starting at line `first`, its continuation lines joined."""
    lines = text.splitlines()
    start = lines.index(first)
    out = []
    for line in lines[start:]:
        out.append(line.rstrip("\\").strip())
        if not line.endswith("\\"):
            break
    return out
