"""saeviz dashboard entry point: navigation and the shared sidebar; no computation here.

Demo mode (`make demo`, or `?demo=1` in the URL): the guided tour opens first.
"""

import os

import streamlit as st

from ui import icons

st.set_page_config(page_title="saeviz", page_icon=icons.APP, layout="wide")

from ui.navigation import drop_foreign_params  # noqa: E402  (set_page_config must run first)
from ui.sidebar import model_sidebar  # noqa: E402

# ?demo=1 leaves the URL with the tour; the session remembers it
demo_mode = (os.environ.get("SAEVIZ_DEMO") == "1" or st.query_params.get("demo") == "1"
             or st.session_state.get("demo_mode", False))
st.session_state["demo_mode"] = demo_mode
pages = {
    "Study": [
        st.Page("views/home.py", title="Overview", icon=icons.HOME, default=not demo_mode),
        st.Page("views/compress.py", title="Model & compression", icon=icons.COMPRESS),
        st.Page("views/sweep.py", title="SAE sparsity sweep", icon=icons.SWEEP),
        st.Page("views/layers.py", title="Layer-wise curves", icon=icons.LAYERS),
        st.Page("views/evals.py", title="Evaluations", icon=icons.EVALS),
        st.Page("views/features.py", title="Feature browser", icon=icons.FEATURES),
    ],
    "Share": [
        st.Page("views/tour.py", title="Guided tour", icon=icons.TOUR, default=demo_mode),
        st.Page("views/pack.py", title="Export pack", icon=icons.PACK),
    ],
}
model_sidebar()
try:
    page = st.navigation(pages)
    drop_foreign_params(page.title, st.query_params)
    page.run()
finally:  # after the page is drawn: copy the shipped demo results into the cache once (in the background)
    from ui.cached import load_shipped

    load_shipped(demo_mode)
