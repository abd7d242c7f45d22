"""Guided tour (demo mode): one finding of the paper per step, on the embedded default, from results
shipped with saeviz (saeviz/demo_data), so nothing is computed while presenting."""

import streamlit as st

from saeviz.report.tour import tour_steps
from saeviz.store import demo
from ui import icons
from ui.export_ui import show_figure

LIVE = {1: "views/compress.py", 2: "views/layers.py", 3: "views/sweep.py", 4: "views/sweep.py", 5: "views/evals.py", 7: "views/evals.py",
        6: "views/layers.py"}


@st.cache_resource(show_spinner=False)  # the figures are only read: no copy per rerun
def _steps(stamp: str):
    return tour_steps()


def _go(i: int) -> None:
    st.session_state["tour_step"] = i


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


st.title("Guided tour")
info = demo.manifest()
steps = _steps(info["created"] if info else "")
if not steps:
    st.info("No demo data is shipped in saeviz/demo_data: build it with `.venv/bin/python scripts/make_demo_data.py`.")
    st.stop()
if not demo.is_current():
    st.warning("These results were computed for an earlier build of the embedded model: they illustrate the findings, "
               "but the other pages will recompute rather than show them.")
n = len(steps)
if "tour_step" not in st.session_state:
    asked = st.query_params.get("step", "1")
    st.session_state["tour_step"] = min(max(int(asked) if asked.isdigit() else 1, 1), n)
i = st.session_state["tour_step"]
st.query_params["step"] = str(i)
spent = info.get("compute_seconds") or {}
st.progress(i / n, text=f"Step {i} of {n} · shipped results, computed on the embedded default"
            + (f" ({', '.join(f'{k} {_duration(v)}' for k, v in spent.items() if v)} on 2 CPU cores)" if spent else ""))
nav = st.columns([1, 1, 6])
nav[0].button("◀ Back", disabled=i == 1, on_click=_go, args=(i - 1,), key="tour_back", width="stretch")
nav[1].button("Next ▶", disabled=i == n, on_click=_go, args=(i + 1,), key="tour_next", type="primary", width="stretch")
step = steps[i - 1]
st.header(step.title)
st.markdown(f"**The paper:** {step.paper}")
st.success(f"**On our model:** {step.finding}")
size = "small" if info.get("settings", {}).get("retrain_tokens", 0) < 1_000_000 else "full"
show_figure(step.figure, step.title, data=step.data, specs={"demo": info.get("settings", {}), "step": i}, key=f"tour_{i}",
            cli=[f"python scripts/make_demo_data.py --size {size} --out demo_data   # the shipped results, recomputed"])
number = int(step.title.split(".")[0]) if step.title[0].isdigit() else 0
if number in LIVE:
    st.page_link(LIVE[number], label="Explore this live", icon=icons.NEXT)
