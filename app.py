"""saeviz dashboard entry point: navigation and the shared sidebar; no computation here."""

import streamlit as st

st.set_page_config(page_title="saeviz", page_icon=":material/hub:", layout="wide")

from ui.sidebar import model_sidebar  # noqa: E402  (set_page_config must run first)

pages = [
    st.Page("views/home.py", title="Model & SAEs", icon=":material/home:", default=True),
    st.Page("views/sweep.py", title="Compression & SAE sweeps", icon=":material/tune:"),
]
model_sidebar()
st.navigation(pages).run()
