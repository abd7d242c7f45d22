"""Long work (compression, a sweep, an evaluation suite, retraining) in a background thread, with a
progress bar, an estimate of the time left and a Cancel button that the job's progress callback reads.

A job lives in this process (one per key, shared by every session, so reopening a page shows the
running job); saeviz raises Cancelled when the callback answers False, and whatever finished before
stays in the cache. The page polls the job from a fragment, so only the progress bar reruns.
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable

import streamlit as st

from saeviz.errors import SaevizError
from saeviz.jobs import Cancelled


def eta_text(done: int, total: int, elapsed_s: float) -> str:
    """'about 40 s left' from the rate so far; '' before the first step or after the last."""
    if done <= 0 or done >= total:
        return ""
    left = elapsed_s / done * (total - done)
    return f"about {left:.0f} s left" if left < 120 else f"about {left / 60:.1f} min left"


@dataclass
class Job:
    """The state of one background job; ``progress`` is the saeviz callback the work reports to."""

    key: str
    label: str
    done: int = 0
    total: int = 1
    message: str = ""
    status: str = "running"  # running, done, cancelled, failed
    error: str = ""
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)

    def progress(self, done: int, total: int, message: str = "") -> bool:
        self.done, self.total, self.message = done, max(total, 1), message
        return not self.cancel_event.is_set()

    @property
    def fraction(self) -> float:
        return min(max(self.done / self.total, 0.0), 1.0)

    def describe(self) -> str:
        elapsed = (self.finished or time.monotonic()) - self.started
        eta = eta_text(self.done, self.total, elapsed)
        return f"{self.label}: {self.message} ({self.done}/{self.total}, {elapsed:.0f} s{', ' + eta if eta else ''})"


_JOBS: dict[str, Job] = {}
_LOCK = threading.Lock()
_LISTENERS: list[Callable[[], None]] = []  # called when any job ends (the read caches listen)


def on_job_end(fn: Callable[[], None]) -> None:
    if fn not in _LISTENERS:
        _LISTENERS.append(fn)


def get(key: str) -> Job | None:
    return _JOBS.get(key)


def start(key: str, label: str, work: Callable[[Callable], object]) -> Job:
    """Run ``work(progress)`` in a thread unless a job of this key is already running."""
    with _LOCK:
        job = _JOBS.get(key)
        if job is not None and job.status == "running":
            return job
        job = _JOBS[key] = Job(key, label)
    threading.Thread(target=_run, args=(job, work), name=f"saeviz-job-{key[:40]}", daemon=True).start()
    return job


def _run(job: Job, work: Callable[[Callable], object]) -> None:
    try:
        work(job.progress)  # results go to the cache; the page reads them from there
        job.status = "done"
    except Cancelled:
        job.status = "cancelled"
    except (SaevizError, ValueError) as exc:
        job.status, job.error = "failed", str(exc)
    except Exception as exc:  # a bug: keep the page alive, say what happened
        traceback.print_exc()
        job.status, job.error = "failed", f"unexpected {type(exc).__name__}: {exc}"
    finally:
        job.finished = time.monotonic()
        for fn in list(_LISTENERS):
            fn()


def job_panel(key: str) -> Job | None:
    """The job's progress bar, estimate and Cancel button (polled once a second while it runs); after it
    ends, one line saying how it ended. Returns the job (None: never started in this process)."""
    job = get(key)
    if job is None:
        return None
    if job.status == "running":
        _running_panel(key)
    elif job.status == "cancelled":
        st.warning(f"{job.label}: cancelled at {job.done}/{job.total}; what finished before is kept in the cache.")
    elif job.status == "failed":
        st.error(f"{job.label} failed: {job.error}")
    return job


@st.fragment(run_every=1.0)
def _running_panel(key: str) -> None:
    job = get(key)
    if job is None or job.status != "running":
        st.rerun(scope="app")  # finished: redraw the page with the new results
        return
    bar, cancel = st.columns([5, 1], vertical_alignment="center")
    bar.progress(job.fraction, text=job.describe())
    if cancel.button("Cancel", key=f"cancel_{key}", help="Stops after the current step; finished parts stay in the cache."):
        job.cancel_event.set()
        job.message = "cancelling..."
