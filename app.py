"""saeviz dashboard entry point: navigation and the shared sidebar; no computation here.

Demo mode (`make demo`, or `?demo=1` in the URL): the guided tour opens first.
"""

import os

import streamlit as st

st.set_page_config(page_title="saeviz", page_icon=":material/hub:", layout="wide")

from ui.sidebar import model_sidebar  # noqa: E402  (set_page_config must run first)

demo_mode = os.environ.get("SAEVIZ_DEMO") == "1" or st.query_params.get("demo") == "1"
pages = {
    "Study": [
        st.Page("views/home.py", title="Overview", icon=":material/home:", default=not demo_mode),
        st.Page("views/compress.py", title="Model & compression", icon=":material/compress:"),
        st.Page("views/sweep.py", title="SAE sparsity sweep", icon=":material/tune:"),
        st.Page("views/layers.py", title="Layer-wise curves", icon=":material/stacked_line_chart:"),
        st.Page("views/evals.py", title="Evaluations", icon=":material/fact_check:"),
        st.Page("views/features.py", title="Feature browser", icon=":material/manage_search:"),
    ],
    "Share": [
        st.Page("views/tour.py", title="Guided tour", icon=":material/slideshow:", default=demo_mode),
        st.Page("views/pack.py", title="Export pack", icon=":material/inventory_2:"),
    ],
}
model_sidebar()
try:
    st.navigation(pages).run()
finally:  # after the page is drawn: copy the shipped demo results into the cache once (in the background)
    from ui.cached import load_shipped

    load_shipped(demo_mode)
