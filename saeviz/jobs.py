"""Long work: progress callbacks with cancellation, shared by compression, pruning, training and sweeps."""

from __future__ import annotations

from typing import Callable, Protocol


class Cancelled(Exception):
    """Raised when a progress callback asks to stop; work finished so far stays in the cache."""


class Progress(Protocol):
    def __call__(self, done: int, total: int, message: str = "") -> bool | None: ...


def report(progress: Progress | None, done: int, total: int, message: str = "") -> None:
    """Call the progress callback; a False answer cancels the job."""
    if progress is not None and progress(done, total, message) is False:
        raise Cancelled(message or "cancelled")


BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}]{postfix}"


def tqdm_progress(desc: str) -> Callable[[int, int, str], bool]:
    """A progress callback drawing a tqdm bar (elapsed time and ETA) on stderr, for the CLI; no rate: a step
    is a layer, a unit or a training chunk, not an iteration of any fixed cost."""
    # lazy: tqdm only draws CLI bars
    from tqdm.auto import tqdm

    bar = None

    def update(done: int, total: int, message: str = "") -> bool:
        nonlocal bar
        if bar is None or bar.total != total:
            if bar is not None:
                bar.close()
            bar = tqdm(total=total, desc=desc, dynamic_ncols=True, bar_format=BAR_FORMAT)
        bar.n = done
        bar.set_postfix_str(message, refresh=False)
        bar.refresh()
        if done >= total:
            bar.close()
        return True

    return update
